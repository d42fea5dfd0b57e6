package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// stopwatchPBX answers every REGISTER that carries credentials with a 401,
// as a PBX does to a wrong password, and notes when each answer left and
// when each probe (a datagram to port 5070) arrived. It is the measuring
// instrument of BenchmarkTimeToBan; the attack tests use Kamailio.
type stopwatchPBX struct {
	sip, probes *net.UDPConn
	mu          sync.Mutex
	answered    []time.Time
	arrived     map[uint32]bool // probe sequence numbers received
}

func (p *stopwatchPBX) serve() {
	buf := make([]byte, 4096)
	for {
		n, from, err := p.sip.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		req := string(buf[:n])
		if !strings.Contains(req, "Authorization:") {
			continue
		}
		var resp strings.Builder
		resp.WriteString("SIP/2.0 401 Unauthorized\r\n")
		for _, line := range strings.Split(req, "\r\n") {
			for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
				if strings.HasPrefix(line, h) {
					resp.WriteString(line + "\r\n")
				}
			}
		}
		resp.WriteString("WWW-Authenticate: Digest realm=\"pbx\", nonce=\"n\"\r\nContent-Length: 0\r\n\r\n")
		_, _ = p.sip.WriteToUDPAddrPort([]byte(resp.String()), from)
		p.mu.Lock()
		p.answered = append(p.answered, time.Now())
		p.mu.Unlock()
	}
}

func (p *stopwatchPBX) countProbes() {
	buf := make([]byte, 64)
	for {
		n, err := p.probes.Read(buf)
		if err != nil {
			return
		}
		if n == 4 {
			p.mu.Lock()
			p.arrived[binary.BigEndian.Uint32(buf)] = true
			p.mu.Unlock()
		}
	}
}

// that overflows the slow-guessing bucket (a source that never authenticated) to the first packet of the attacker that
// that crosses the REGISTER limit to the first packet of the attacker that
// the kernel drops: the attacker sends numbered probes every ~100 µs from
// the moment it gets that answer, and the first probe that never arrives
// was sent after the ban took effect. Its send time, less the answer's, is
// an upper bound of the time to ban (it includes the answer's trip to the
// attacker and the probing interval). It reports the median and the 99th
// percentile (here the worst) of 15 bans.
func BenchmarkTimeToBan(b *testing.B) {
	lab := netlab.NewT(b)
	bin := buildSipguard(b)
	// Each ban comes from an address of its own (a source stays held in
	// the kernel for up to a minute after its last failure, past its 2 s
	// ban), all of one /24: the network rule is off.
	stop := startDaemon(b, lab, bin, "--scanner-agents", "none", "--register-limit", "5", "--block-time", "2s", "--block-threshold", "20", "--network-limit", "0")

	pbx := &stopwatchPBX{arrived: map[uint32]bool{}}
	var err error
	if pbx.sip, err = lab.PBX.ListenUDP(netip.AddrPortFrom(netlab.PBX4, 5060)); err != nil {
		b.Fatal(err)
	}
	if pbx.probes, err = lab.PBX.ListenUDP(netip.AddrPortFrom(netlab.PBX4, 5070)); err != nil {
		b.Fatal(err)
	}
	defer pbx.sip.Close()
	defer pbx.probes.Close()
	go pbx.serve()
	go pbx.countProbes()

	// dial opens the attacker's two sockets from a new address.
	dial := func(i int) (phone, probe *net.UDPConn) {
		attacker := netip.AddrFrom4([4]byte{203, 0, 113, byte(100 + i%100)})
		if err := netlab.IP(context.Background(), "-n", lab.WAN.Name, "addr", "replace", attacker.String()+"/32", "dev", "lo"); err != nil {
			b.Fatal(err)
		}
		var err error
		if phone, err = lab.WAN.DialUDP(attacker, netip.AddrPortFrom(netlab.PBX4, 5060)); err != nil {
			b.Fatal(err)
		}
		if probe, err = lab.WAN.DialUDP(attacker, netip.AddrPortFrom(netlab.PBX4, 5070)); err != nil {
			b.Fatal(err)
		}
		return phone, probe
	}

	var samples []time.Duration
	call, round := 0, 0
	for b.Loop() {
		samples = samples[:0]
		for range 15 {
			round++
			phone, probe := dial(round)
			pbx.mu.Lock()
			pbx.answered = pbx.answered[:0]
			pbx.mu.Unlock()
			for range 5 { // a source that never authenticated: four failures fit its bucket, the fifth answer bans
				call++
				fmt.Fprintf(phone, "REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP %v;branch=z9hG4bK%d\r\nFrom: <sip:1001@pbx>;tag=%d\r\nTo: <sip:1001@pbx>\r\nCall-ID: ttb-%d\r\nCSeq: 1 REGISTER\r\nAuthorization: Digest username=\"1001\", realm=\"pbx\", nonce=\"n\", uri=\"sip:pbx\", response=\"0\"\r\nContent-Length: 0\r\n\r\n",
					phone.LocalAddr(), call, call, call)
				_ = phone.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := phone.Read(make([]byte, 2048)); err != nil {
					b.Fatalf("no answer to guess: %v", err)
				}
			}
			var sent []time.Time
			for seq := uint32(0); seq < 1000; seq++ {
				sent = append(sent, time.Now())
				_, _ = probe.Write(binary.BigEndian.AppendUint32(nil, seq))
				time.Sleep(100 * time.Microsecond)
			}
			time.Sleep(50 * time.Millisecond)
			pbx.mu.Lock()
			crossed := pbx.answered[len(pbx.answered)-1]
			first := -1
			for seq := range sent {
				if !pbx.arrived[uint32(seq)] {
					first = seq
					break
				}
			}
			clear(pbx.arrived)
			pbx.mu.Unlock()
			if first < 0 {
				b.Fatalf("every probe arrived: no ban\n%s", stop())
			}
			samples = append(samples, max(0, sent[first].Sub(crossed)))
			phone.Close()
			probe.Close()
		}
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, "ms-p99")
	b.Logf("time to ban: %v", samples)
}

// rssKB reads a process's resident set size from /proc.
func rssKB(b *testing.B, pid int) int {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkSpoofedFlood writes 10,000,000 SIP requests from as many spoofed
// addresses onto the wan wire (raw frames), while a real attacker guesses
// passwords, and reports the daemon's RSS after the first million and at
// the end, and whether the real attacker was banned.
func BenchmarkSpoofedFlood(b *testing.B) {
	lab := netlab.NewT(b)
	bin := buildSipguard(b)
	pid, stop := startDaemonPID(b, lab, bin, "--scanner-agents", "none")
	pbx := &stopwatchPBX{arrived: map[uint32]bool{}}
	var err error
	if pbx.sip, err = lab.PBX.ListenUDP(netip.AddrPortFrom(netlab.PBX4, 5060)); err != nil {
		b.Fatal(err)
	}
	defer pbx.sip.Close()
	go pbx.serve()

	wire := openWANWire(b, lab)
	sipMsg := "OPTIONS sip:100@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKflood\r\nFrom: <sip:100@pbx>;tag=1\r\nTo: <sip:100@pbx>\r\nCall-ID: flood\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	// The source address (bytes 26-29) is rewritten for every frame and
	// the IP checksum left as it was: the PBX drops these, the box still
	// sees them.
	frame := ipv4Frame(netip.AddrFrom4([4]byte{100, 64, 0, 0}), netlab.PBX4, sipMsg)

	const total = 10_000_000
	var after1M, atEnd, start int
	guesses := 0
	for b.Loop() {
		start = rssKB(b, pid)
		phone, err := lab.WAN.DialUDP(netlab.Attacker4, netip.AddrPortFrom(netlab.PBX4, 5060))
		if err != nil {
			b.Fatal(err)
		}
		for i := range total {
			binary.BigEndian.PutUint32(frame[26:30], 0x64400000|uint32(i)) // 100.64.0.0/10, spoofed
			if err := wire.write(frame); err != nil {
				b.Fatal(err)
			}
			if i%200_000 == 0 && guesses < 20 { // the real attack, in the middle of the flood
				guesses++
				fmt.Fprintf(phone, "REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP %v:%d;branch=z9hG4bKreal%d\r\nFrom: <sip:1001@pbx>;tag=%d\r\nTo: <sip:1001@pbx>\r\nCall-ID: real-%d\r\nCSeq: 1 REGISTER\r\nAuthorization: Digest username=\"1001\", response=\"0\"\r\nContent-Length: 0\r\n\r\n",
					netlab.Attacker4, phone.LocalAddr().(*net.UDPAddr).Port, i, i, i)
			}
			if i == 1_000_000 {
				after1M = rssKB(b, pid)
			}
		}
		atEnd = rssKB(b, pid)
		phone.Close()
	}
	time.Sleep(time.Second)
	bans := sipguard(b, lab, bin, "bans")
	log := stop()
	b.ReportMetric(float64(start)/1024, "MB-RSS-start")
	b.ReportMetric(float64(after1M)/1024, "MB-RSS-after-1M")
	b.ReportMetric(float64(atEnd)/1024, "MB-RSS-after-10M")
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "inspection stopped") || strings.Contains(line, "overflowed") {
			b.Log(line)
		}
	}
	if !strings.Contains(bans, netlab.Attacker4.String()) {
		b.Errorf("the real attacker was not banned during the flood:\n%s", bans)
	}
}
