package sip

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/netfilter/netlab"
	"github.com/sipguard/sipguard/sip/portrange"
)

// captureLab is a lab whose box ports are up but not bridged, with a raw
// sender on the wan host: frames written there enter the box's wan port
// and go no further. IPv6 is off on that side so that no neighbour
// discovery reaches a capture uninvited.
type captureLab struct {
	*netlab.Lab
	fd int // AF_PACKET socket on the wan host's eth0
}

func newCaptureLab(t *testing.T, mtu int) *captureLab {
	t.Helper()
	lab := netlab.NewT(t)
	ctx := context.Background()
	for _, ns := range []*netlab.NS{lab.WAN, lab.Box} {
		if _, err := ns.Output(ctx, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
			t.Fatal(err)
		}
	}
	for _, link := range [][]string{{lab.WAN.Name, netlab.HostIf}, {lab.Box.Name, netlab.WANPort}, {lab.Box.Name, netlab.LANPort}} {
		if err := netlab.IP(ctx, "-n", link[0], "link", "set", link[1], "mtu", fmt.Sprint(mtu), "up"); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.WaitLinks(ctx); err != nil {
		t.Fatal(err)
	}
	l := &captureLab{Lab: lab, fd: -1}
	if err := lab.WAN.Do(func() error {
		ifi, err := net.InterfaceByName(netlab.HostIf)
		if err != nil {
			return err
		}
		if l.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.Bind(l.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index})
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(l.fd) })
	return l
}

// send writes one UDP datagram in an Ethernet frame to a MAC address
// nobody has.
func (l *captureLab) send(t *testing.T, src netip.Addr, srcPort, dstPort uint16, payload []byte) {
	t.Helper()
	f := make([]byte, 14+20+8+len(payload))
	copy(f, []byte{2, 0, 0, 0, 0, 0x99, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, ProtoUDP
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	copy(ip[12:16], src.AsSlice())
	copy(ip[16:20], netlab.PBX4.AsSlice())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	sum = sum&0xffff + sum>>16
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum+sum>>16))
	binary.BigEndian.PutUint16(ip[20:], srcPort)
	binary.BigEndian.PutUint16(ip[22:], dstPort)
	binary.BigEndian.PutUint16(ip[24:], uint16(8+len(payload)))
	copy(ip[28:], payload)
	if _, err := unix.Write(l.fd, f); err != nil {
		t.Fatalf("send %d bytes: %v", len(f), err)
	}
}

func (l *captureLab) listen(t *testing.T, cfg CaptureConfig) *Capture {
	t.Helper()
	var c *Capture
	if err := l.Box.Do(func() (err error) {
		c, err = ListenConfig(netlab.WANPort, []portrange.Range{{First: 5060, Last: 5060}}, true, true, cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func options(callID string) []byte {
	return []byte("OPTIONS sip:100@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:100@192.0.2.10>;tag=1\r\nTo: <sip:100@192.0.2.10>\r\nCall-ID: " + callID + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
}

// TestCaptureFanoutDeliversOnce sends SIP datagrams from many sources, two
// from each, and datagrams to a port that is not SIP's: every SIP one
// reaches exactly one worker, both of a source's reach the same one, the
// work is shared, and nothing else is delivered.
func TestCaptureFanoutDeliversOnce(t *testing.T) {
	l := newCaptureLab(t, 1500)
	const workers = 3
	c := l.listen(t, CaptureConfig{Workers: workers, QueueBytes: 3 << 20})
	if c.Workers() != workers {
		t.Fatalf("Workers() = %d", c.Workers())
	}
	var (
		mu    sync.Mutex
		seen  = map[string][]int{} // Call-ID → workers that delivered it
		other int
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(worker int, frame []byte, _ Backlog) {
			var p Packet
			var m Message
			if Decode(frame, &p) != nil || Parse(p.Payload, &m) != nil {
				mu.Lock()
				other++
				mu.Unlock()
				return
			}
			mu.Lock()
			seen[string(m.CallID)] = append(seen[string(m.CallID)], worker)
			mu.Unlock()
		})
	}()

	const sources = 200 // 400 SIP frames, 100 others
	for i := range sources {
		src := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		for k := range 2 {
			l.send(t, src, 40000+uint16(i), 5060, options(fmt.Sprintf("%d-%d", i, k)))
		}
		if i%2 == 0 {
			l.send(t, src, 40000, 5070, options("not-sip"))
		}
	}
	want := 2 * sources
	deadline := time.Now().Add(3 * time.Second) // a block is handed over within 10 ms
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(30 * time.Millisecond) // any duplicate would have come by now
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	perWorker := make([]int, workers)
	for i := range sources {
		a, b := seen[fmt.Sprintf("%d-0", i)], seen[fmt.Sprintf("%d-1", i)]
		if len(a) != 1 || len(b) != 1 {
			t.Errorf("source %d: delivered by workers %v and %v, want once each", i, a, b)
			continue
		}
		if a[0] != b[0] {
			t.Errorf("source %d: one flow on workers %d and %d", i, a[0], b[0])
		}
		perWorker[a[0]] += 2
	}
	if len(seen) != want || other != 0 {
		t.Errorf("%d Call-IDs delivered, want %d; %d other frames, want none", len(seen), want, other)
	}
	for w, n := range perWorker {
		if n == 0 {
			t.Errorf("worker %d got nothing: %v", w, perWorker)
		}
	}
	t.Logf("frames per worker: %v", perWorker)
	if st, err := c.Stats(); err != nil || st != (CaptureStats{}) {
		t.Errorf("Stats() = %+v, %v", st, err)
	}
}

// TestCaptureCountsTruncated sends a SIP datagram larger than the
// capture reads (jumbo frames on the lab's link): it is counted, not
// delivered, and the frame after it is.
func TestCaptureCountsTruncated(t *testing.T) {
	l := newCaptureLab(t, 9000)
	c := l.listen(t, CaptureConfig{Workers: 1, FrameBytes: 4096})
	var (
		mu  sync.Mutex
		got []int
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(_ int, frame []byte, _ Backlog) {
			mu.Lock()
			got = append(got, len(frame))
			mu.Unlock()
		})
	}()
	src := netip.AddrFrom4([4]byte{198, 51, 100, 7})
	big := options("big")
	big = append(big[:len(big)-2], strings.Repeat("X-Pad: 0123456789abcdef0123456789abcdef\r\n", 150)+"\r\n"...)
	l.send(t, src, 40000, 5060, big)
	small := options("small")
	l.send(t, src, 40000, 5060, small)
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(30 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{14 + 28 + len(small)}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered frames of %v bytes, want %v (the %d-byte one skipped)", got, want, 14+28+len(big))
	}
	st, err := c.Stats()
	if err != nil || st.Truncated != 1 || st.Drops != 0 {
		t.Errorf("Stats() = %+v, %v; want 1 truncated", st, err)
	}
}

// TestCaptureStopsPromptly: cancelling ctx, or closing the capture, ends a
// Run that waits for traffic at once, with no error.
func TestCaptureStopsPromptly(t *testing.T) {
	l := newCaptureLab(t, 1500)
	c := l.listen(t, CaptureConfig{Workers: 2})
	for _, how := range []string{"cancel", "close"} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx, func(int, []byte, Backlog) {}) }()
		time.Sleep(50 * time.Millisecond) // in poll by now
		start := time.Now()
		if how == "cancel" {
			cancel()
		} else if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: Run: %v", how, err)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("%s: Run returned after %v", how, d)
			}
		case <-time.After(time.Second):
			t.Fatalf("%s: Run did not return", how)
		}
		cancel()
	}
	if err := c.Run(context.Background(), func(int, []byte, Backlog) {}); err == nil {
		t.Error("Run after Close: no error")
	}
	if _, err := c.Stats(); err == nil {
		t.Error("Stats after Close: no error")
	}
}

// TestCaptureConfig checks the defaults and the limits.
func TestCaptureConfig(t *testing.T) {
	var cfg CaptureConfig
	if err := cfg.fill(); err != nil {
		t.Fatal(err)
	}
	if cfg.Workers < 1 || cfg.Workers > DefaultMaxWorkers || cfg.QueueBytes != DefaultQueueBytes || cfg.FrameBytes < 65535 {
		t.Errorf("defaults %+v", cfg)
	}
	for _, bad := range []CaptureConfig{{Workers: -1}, {FrameBytes: 1000}, {Batch: -1}, {Workers: 100}, {QueueBytes: 1000}} {
		if err := bad.fill(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
