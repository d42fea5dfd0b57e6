package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/verdict"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/netfilter/netlab"
	"github.com/sipguard/sipguard/sip"
)

// lanWatch counts the UDP datagrams to or from an address on the PBX
// host's link, as a capture on the office side of the box would.
type lanWatch struct {
	conn *packet.Conn
	n    atomic.Int64
	done chan struct{}
}

// watchLAN starts counting the frames on the PBX's link that carry IPv4
// UDP from or to addr, until the test ends.
func watchLAN(t *testing.T, lab *netlab.Lab, addr netip.Addr) *lanWatch {
	t.Helper()
	w := &lanWatch{done: make(chan struct{})}
	if err := lab.PBX.Do(func() error {
		ifi, err := net.InterfaceByName(netlab.HostIf)
		if err != nil {
			return err
		}
		w.conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_IP, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	a := addr.As4()
	go func() {
		defer close(w.done)
		buf := make([]byte, 65536)
		for {
			n, _, err := w.conn.ReadFrom(buf)
			if err != nil {
				return
			}
			f := buf[:n]
			if n < 34 || f[23] != 17 {
				continue
			}
			if [4]byte(f[26:30]) == a || [4]byte(f[30:34]) == a {
				w.n.Add(1)
			}
		}
	}()
	t.Cleanup(func() { w.conn.Close(); <-w.done })
	return w
}

// status reads the daemon's status through its API.
func status(t *testing.T, lab *netlab.Lab, bin, sock string) api.Status {
	t.Helper()
	var st api.Status
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// A scanner's first OPTIONS (svmap, with its scanner User-Agent) waits for
// its verdict in the box and is dropped: the PBX never sees it, nothing
// comes back, svmap finds no SIP device, and the scanner is banned.
func TestFirstPacketScannerGetsNoAnswer(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	sock := filepath.Join(t.TempDir(), "api.sock")
	stop := startDaemon(t, lab, bin, "--api", sock)
	lan := watchLAN(t, lab, netlab.Attacker4)

	out := attack(t, lab, "svmap", "-b", netlab.Attacker4.String(), "-p", "5060", netlab.PBX4.String())
	if strings.Contains(out, netlab.PBX4.String()+":5060") || !strings.Contains(out, "found nothing") {
		t.Errorf("svmap found the PBX, or did not run:\n%s", out)
	}
	if all, _ := reg.Requests("OPTIONS", netlab.Attacker4); all != 0 {
		t.Errorf("%d scanner requests reached the registrar, want none", all)
	}
	if n := lan.n.Load(); n != 0 {
		t.Errorf("%d datagrams from or to the scanner crossed the PBX's link, want none", n)
	}
	if bans := sipguard(t, lab, bin, "bans"); !strings.Contains(bans, netlab.Attacker4.String()+"/32") {
		t.Errorf("the scanner is not banned:\n%s", bans)
	}
	st := status(t, lab, bin, sock)
	if st.FirstPacket != "on" || st.Inspection["first_packet_dropped"] < 1 || st.Inspection["first_packet_accepted"] != 0 {
		t.Errorf("status: first packet %q, counters %v; want on, the scanner's first packet dropped", st.FirstPacket, st.Inspection)
	}
	if log := stop(); !strings.Contains(log, "scanner User-Agent") || !strings.Contains(log, "first-packet verdict on") {
		t.Errorf("no ban event or no first-packet verdict in the log:\n%s", log)
	}
}

// A phone from a source the box has never seen registers through the
// verdict, and its source is judged: its next packets stay in the kernel.
func TestFirstPacketPhoneRegisters(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	sock := filepath.Join(t.TempDir(), "api.sock")
	startDaemon(t, lab, bin, "--api", sock)

	if !phone(t, lab, netlab.Carrier4, "1001", "s3cret-1001") {
		t.Fatal("a new phone could not register through the first-packet verdict")
	}
	st := status(t, lab, bin, sock)
	if st.Inspection["first_packet_accepted"] != 1 || st.Inspection["first_packet_dropped"] != 0 || st.Inspection["first_packet_judged"] != 1 {
		t.Errorf("counters %v: want the phone's first packet accepted and its source judged", st.Inspection)
	}
	if !phone(t, lab, netlab.Carrier4, "1001", "s3cret-1001") {
		t.Fatal("the phone could not register again")
	}
	if st := status(t, lab, bin, sock); st.Inspection["first_packet_queued"] != 1 {
		t.Errorf("a judged source's packets were queued: %v", st.Inspection)
	}
}

// With --no-first-packet nothing is queued and the tables are not there.
func TestFirstPacketOff(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	sock := filepath.Join(t.TempDir(), "api.sock")
	startDaemon(t, lab, bin, "--api", sock, "--no-first-packet")
	if !phone(t, lab, netlab.Carrier4, "1001", "s3cret-1001") {
		t.Fatal("the phone could not register")
	}
	if st := status(t, lab, bin, sock); st.FirstPacket != "off" || st.Inspection["first_packet_queued"] != 0 {
		t.Errorf("status: %q %v, want off and nothing queued", st.FirstPacket, st.Inspection)
	}
	if out, _ := lab.Box.Output(context.Background(), "nft", "list", "tables"); strings.Contains(string(out), netfilter.VerdictTable) {
		t.Errorf("verdict tables with the verdict off:\n%s", out)
	}
}

// forwardAll is a judge that forwards everything.
type forwardAll struct{}

func (forwardAll) FirstPacket(time.Time, netip.Addr, *sip.Message) sip.Verdict { return sip.Forward }

// When the box cannot listen on the queue (here another program holds
// it), the daemon says so once and protects without the verdict.
func TestFirstPacketUnavailable(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	q, err := verdict.OpenQueue(lab.Box.Fd())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- verdict.New(forwardAll{}).Run(ctx, q) }()
	t.Cleanup(func() { cancel(); <-done; q.Close() })

	sock := filepath.Join(t.TempDir(), "api.sock")
	stop := startDaemon(t, lab, bin, "--api", sock)
	if st := status(t, lab, bin, sock); st.FirstPacket != "unavailable" {
		t.Errorf("status: first packet %q, want unavailable", st.FirstPacket)
	}
	if !phone(t, lab, netlab.Carrier4, "1001", "s3cret-1001") {
		t.Error("a phone could not register")
	}
	attack(t, lab, "svmap", "-b", netlab.Attacker4.String(), "-p", "5060", netlab.PBX4.String())
	if bans := sipguard(t, lab, bin, "bans"); !strings.Contains(bans, netlab.Attacker4.String()+"/32") {
		t.Errorf("without the verdict the scanner is not banned:\n%s", bans)
	}
	if log := stop(); strings.Count(log, `msg="first-packet verdict unavailable`) != 1 {
		t.Errorf("want one line saying the verdict is unavailable:\n%s", log)
	}
}

// The verdict fails open: with the daemon killed, a new source's SIP is
// forwarded and answered; with new sources flooding far beyond the
// verdict's rate bound and the queue's length, a phone still registers.
func TestFirstPacketFailsOpen(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	sock := filepath.Join(t.TempDir(), "api.sock")

	t.Run("flood", func(t *testing.T) {
		stop := startDaemon(t, lab, bin, "--api", sock, "--flood-rate", "100000")
		defer stop()
		// New sources, every one of them, as fast as the wire takes them,
		// to an office address nobody has: the queue fills, not the PBX.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var (
			wg   sync.WaitGroup
			sent int
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent = queueFlood(ctx, t, lab, 200_000)
		}()
		time.Sleep(300 * time.Millisecond)
		registered := phone(t, lab, netlab.Carrier4, "1001", "s3cret-1001")
		cancel()
		wg.Wait()
		st := status(t, lab, bin, sock)
		t.Logf("flood of %d new sources; verdict counters %v", sent, st.Inspection)
		if !registered {
			t.Error("a phone could not register during the flood")
		}
		// Past the verdict's rate bound the kernel lets new sources through
		// unjudged; past the queue's length too.
		if st.Inspection["first_packet_over_rate"]+st.Inspection["first_packet_failed_open"] == 0 {
			t.Error("the flood never went past the verdict's bounds: nothing passed unjudged")
		}
		if read, most := st.Inspection["first_packet_queued"], uint64(4*netfilter.VerdictRate+netfilter.VerdictBurst); read > most {
			t.Errorf("the daemon read %d queued packets in a 3-s flood, more than the rate bound lets in (%d)", read, most)
		}
	})

	t.Run("killed", func(t *testing.T) {
		pid, _ := startDaemonPID(t, lab, bin, "--api", sock)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		before, _ := reg.Requests("REGISTER", netlab.Other4)
		if !phone(t, lab, netlab.Other4, "1002", "s3cret-1002") {
			t.Error("with the daemon killed, a new source could not register")
		}
		if after, _ := reg.Requests("REGISTER", netlab.Other4); after == before {
			t.Error("the registrar saw no REGISTER from the new source")
		}
		// The verdict's tables stay in the kernel and queue to nobody.
		if out, err := lab.Box.Output(context.Background(), "nft", "list", "table", "ip", netfilter.VerdictTable); err != nil || !strings.Contains(string(out), "queue") {
			t.Errorf("verdict table after the kill: %v\n%s", err, out)
		}
	})
}

// queueFlood writes SIP OPTIONS from max different spoofed sources
// (198.18.0.0/15) to 192.0.2.99:5060, a free office address, onto the wan
// wire as fast as it takes them, until ctx ends. It returns how many it
// wrote.
func queueFlood(ctx context.Context, t testing.TB, lab *netlab.Lab, max int) int {
	wire := openWANWire(t, lab)
	msg := "OPTIONS sip:100@192.0.2.99 SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.0.1:5060;branch=z9hG4bKflood\r\n" +
		"From: <sip:100@pbx>;tag=1\r\nTo: <sip:100@pbx>\r\nCall-ID: flood\r\nCSeq: 1 OPTIONS\r\nUser-Agent: Yealink SIP-T46S\r\n\r\n"
	frame := ipv4Frame(netip.AddrFrom4([4]byte{198, 18, 0, 1}), netip.AddrFrom4([4]byte{192, 0, 2, 99}), msg)
	for i := range max {
		if i%1000 == 0 && ctx.Err() != nil {
			return i
		}
		binary.BigEndian.PutUint32(frame[26:30], 198<<24|18<<16|uint32(i)&0x1ffff)
		setIPv4Checksum(frame[14:34])
		if err := wire.write(frame); err != nil {
			t.Errorf("flood: %v", err)
			return i
		}
	}
	return max
}

// BenchmarkFirstPacketVerdict measures the one-way time of a SIP datagram
// across the box from a source it has not judged (the first packet waits
// for the daemon's verdict) and from a judged source (the kernel's path),
// sender and receiver in the same process on the same clock. Each
// iteration empties the judged set, then sends one datagram of each.
func BenchmarkFirstPacketVerdict(b *testing.B) {
	lab := netlab.NewT(b)
	bin := buildSipguard(b)
	startDaemon(b, lab, bin, "--flood-rate", "100000")
	v, err := netfilter.OpenVerdict(netfilter.WithNetNS(lab.Box.Fd()))
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	rx, err := lab.PBX.ListenUDP(netip.AddrPortFrom(netlab.PBX4, 5060))
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	tx, err := lab.WAN.DialUDP(netlab.Attacker4, netip.AddrPortFrom(netlab.PBX4, 5060))
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	msg := []byte("OPTIONS sip:100@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bKbench\r\n" +
		"From: <sip:100@pbx>;tag=1\r\nTo: <sip:100@pbx>\r\nCall-ID: bench\r\nCSeq: 1 OPTIONS\r\nUser-Agent: Yealink SIP-T46S\r\n\r\n")
	buf := make([]byte, 2048)
	oneWay := func() time.Duration {
		_ = rx.SetReadDeadline(time.Now().Add(time.Second))
		start := time.Now()
		if _, err := tx.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := rx.Read(buf); err != nil {
			b.Fatalf("the datagram did not arrive: %v", err)
		}
		return time.Since(start)
	}
	var first, judged []time.Duration
	for b.Loop() {
		if err := v.FlushJudged(); err != nil {
			b.Fatal(err)
		}
		first = append(first, oneWay())
		judged = append(judged, oneWay())
		time.Sleep(time.Millisecond) // well under the flood limit
	}
	if st, err := v.Stats(); err != nil || st.OverRate != 0 {
		b.Fatalf("first packets went past the verdict's rate bound, unjudged (%+v, %v): the figures would not be the verdict's", st, err)
	}
	q := func(d []time.Duration, p float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[int(p*float64(len(s)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(q(first, 0.5), "first-median-µs")
	b.ReportMetric(q(first, 0.9), "first-p90-µs")
	b.ReportMetric(q(judged, 0.5), "judged-median-µs")
	b.ReportMetric(q(judged, 0.9), "judged-p90-µs")
	b.ReportMetric(q(first, 0.5)-q(judged, 0.5), "added-median-µs")
	b.ReportMetric(q(first, 0.9)-q(judged, 0.9), "added-p90-µs")
	b.ReportMetric(0, "ns/op")
}
