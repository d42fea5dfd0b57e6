package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/netfilter/netlab"
	"github.com/sipguard/sipguard/sip"
	"github.com/sipguard/sipguard/sip/portrange"
)

// blaster writes prebuilt Ethernet frames straight onto the wan host's
// side of a veth (an AF_PACKET socket: no IP stack, no ICMP back), each a
// 500-byte SIP REGISTER from another spoofed source in 198.18.0.0/15, the
// range set aside for benchmarks (RFC 2544).
type blaster struct {
	fd    int
	frame []byte
	n     uint32
}

func newBlaster(tb testing.TB, lab *netlab.Lab) *blaster {
	tb.Helper()
	bl := &blaster{fd: -1}
	if err := lab.WAN.Do(func() error {
		ifi, err := net.InterfaceByName(netlab.HostIf)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		bl.fd = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index})
	}); err != nil {
		if bl.fd >= 0 {
			unix.Close(bl.fd)
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(bl.fd) })
	payload := "REGISTER sip:192.0.2.10 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 198.18.0.1:5060;branch=z9hG4bK-00000000;rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"To: \"1001\" <sip:1001@192.0.2.10>\r\n" +
		"From: \"1001\" <sip:1001@192.0.2.10>;tag=3206210844\r\n" +
		"User-Agent: Grandstream GXP2170 1.0.11.3\r\n" +
		"Call-ID: 00000000-3554595918@198.18.0.1\r\n" +
		"Contact: <sip:1001@198.18.0.1:5060>\r\n" +
		"CSeq: 1 REGISTER\r\n" +
		"Expires: 3600\r\n" +
		"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, OPTIONS, INFO, SUBSCRIBE\r\n" +
		"Supported: path, gruu\r\n" +
		"Accept: application/sdp\r\n" +
		"Content-Length: 0\r\n\r\n"
	for len(payload) < 500 {
		payload = payload[:len(payload)-2] + "X-Pad: padding\r\n\r\n"
	}
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:6], []byte{0x02, 0, 0, 0, 0, 0x99}) // to nobody: the box's IP stack ignores it
	copy(f[6:12], []byte{0x02, 0, 0, 0, 0, 0x01})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, sip.ProtoUDP
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	copy(ip[16:20], netlab.PBX4.AsSlice())
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 5060)
	binary.BigEndian.PutUint16(udp[2:], 5060)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	bl.frame = f
	return bl
}

// newLab builds a lab whose box ports are up but not bridged: what enters
// the wan port goes no further. IPv6 is off on the wan side, so that no
// neighbour discovery or multicast report reaches a capture uninvited.
func newLab(tb testing.TB) *netlab.Lab {
	tb.Helper()
	lab := netlab.NewT(tb)
	ctx := context.Background()
	for _, ns := range []*netlab.NS{lab.WAN, lab.Box} {
		if _, err := ns.Output(ctx, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
			tb.Fatal(err)
		}
	}
	for _, port := range []string{netlab.WANPort, netlab.LANPort} {
		if err := netlab.IP(ctx, "-n", lab.Box.Name, "link", "set", port, "up"); err != nil {
			tb.Fatal(err)
		}
	}
	if err := lab.WaitLinks(ctx); err != nil {
		tb.Fatal(err)
	}
	return lab
}

// listen opens a capture of SIP on port 5060 on the box's wan port, with
// one worker.
func listen(tb testing.TB, lab *netlab.Lab) *sip.Capture {
	tb.Helper()
	var c *sip.Capture
	if err := lab.Box.Do(func() (err error) {
		c, err = sip.ListenConfig(netlab.WANPort, []portrange.Range{{First: 5060, Last: 5060}}, true, true, sip.CaptureConfig{Workers: 1})
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// send writes n frames, each from the next source and with its own
// branch and Call-ID.
func (bl *blaster) send(tb testing.TB, n int) {
	tb.Helper()
	ip := bl.frame[14:]
	msg := ip[28:]
	branch := indexOf(msg, "z9hG4bK-") + len("z9hG4bK-")
	callID := indexOf(msg, "Call-ID: ") + len("Call-ID: ")
	const hex = "0123456789abcdef"
	for range n {
		bl.n++
		src := 198<<24 | 18<<16 | bl.n&0x1ffff
		binary.BigEndian.PutUint32(ip[12:16], src)
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip[:20]))
		for i := range 8 {
			d := hex[bl.n>>(28-4*i)&0xf]
			msg[branch+i], msg[callID+i] = d, d
		}
		for {
			_, err := unix.Write(bl.fd, bl.frame)
			if err == nil {
				break
			}
			if err != unix.ENOBUFS && err != unix.EAGAIN {
				tb.Fatalf("send: %v", err)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	panic("template lacks " + s)
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// stopAfter is a capture that ends its run once n frames were handed on.
type stopAfter struct {
	Capture
	n int
}

func (s *stopAfter) Run(ctx context.Context, fn func(int, []byte, sip.Backlog)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := 0
	return s.Capture.Run(ctx, func(worker int, frame []byte, b sip.Backlog) {
		fn(worker, frame, b)
		if seen++; seen == s.n {
			cancel()
		}
	})
}

// BenchmarkInspectFromSocket measures what one core inspects end to end:
// frames read from the capture socket on the box's wan port, decoded,
// parsed and judged by the engine (pipeline.Inspect), with GOMAXPROCS=1.
// Each round the wan host first queues a batch of REGISTERs from spoofed
// sources in the capture's kernel buffer, untimed; the timer then runs
// while Inspect drains the batch. One op is one frame. Besides wall time
// it reports the CPU time the drain took (frames/cpu-s), which other load
// on the machine does not distort.
func BenchmarkInspectFromSocket(b *testing.B) {
	lab := newLab(b)
	engine, err := sip.NewEngine(sip.DefaultRules(), sip.DefaultSources, func(sip.Decision) {})
	if err != nil {
		b.Fatal(err)
	}
	bl := newBlaster(b, lab)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const batch = 2000 // well inside the kernel's buffer
	var (
		st  InspectStats
		cpu time.Duration
	)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		b.StopTimer()
		c := listen(b, lab)
		bl.send(b, n)
		time.Sleep(25 * time.Millisecond) // all queued, any partial block handed over
		cpu0 := cpuTime(b)
		b.StartTimer()
		if err := Inspect(context.Background(), &stopAfter{Capture: c, n: n}, sip.FromWAN, engine, &st); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime(b) - cpu0
		if cs, _ := c.Stats(); cs.Drops > 0 {
			b.Fatalf("the kernel dropped %d frames: the batch does not fit", cs.Drops)
		}
		c.Close()
		done += n
	}
	b.StopTimer()
	if m := st.Map(); m["frames"] != uint64(b.N) || m["unparsable"] != 0 || m["undecodable"] != 0 {
		b.Fatalf("stats %v after %d frames", m, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/frame")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "frames/cpu-s")
}

// cpuTime returns the CPU time the process has used, user and system: on
// a shared machine, wall time also counts other programs' turns.
func cpuTime(tb testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
