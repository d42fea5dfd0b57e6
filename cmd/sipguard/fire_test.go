package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// spoofedFlood writes REGISTERs with credentials from spoofed sources
// (198.18.0.0/15, the benchmarking range) onto the wan wire at about rate a
// second, until ctx ends or max frames are out. Every frame is a valid
// datagram the PBX answers (a 401 to a wrong password), each to a
// different address: the answers cross the box too, as in a real flood.
// It returns how many frames it wrote.
func spoofedFlood(ctx context.Context, t testing.TB, lab *netlab.Lab, rate, max int) int {
	t.Helper()
	wire := openWANWire(t, lab)
	// One frame, rewritten in place for each source: its address, and a
	// number that makes every transaction new.
	msg := "REGISTER sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.0.1:5060;branch=z9hG4bK########\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:1001@pbx.example.com>;tag=########\r\nTo: <sip:1001@pbx.example.com>\r\n" +
		"Call-ID: ########\r\nCSeq: 2 REGISTER\r\nContact: <sip:1001@198.18.0.1:5060>\r\n" +
		"Authorization: Digest username=\"1001\", realm=\"pbx.example.com\", nonce=\"aGVsbG8\", uri=\"sip:pbx.example.com\", response=\"00000000000000000000000000000000\"\r\n" +
		"User-Agent: Yealink SIP-T46S\r\nContent-Length: 0\r\n\r\n"
	frame := ipv4Frame(netip.AddrFrom4([4]byte{198, 18, 0, 1}), netlab.PBX4, msg)
	var marks []int
	for i := 0; i+8 <= len(frame); i++ {
		if string(frame[i:i+8]) == "########" {
			marks = append(marks, i)
		}
	}
	const burst = 50
	tick := time.NewTicker(time.Second * burst / time.Duration(rate))
	defer tick.Stop()
	sent := 0
	for sent < max {
		select {
		case <-ctx.Done():
			return sent
		case <-tick.C:
		}
		for range burst {
			binary.BigEndian.PutUint32(frame[26:30], 198<<24|18<<16|uint32(sent)&0x1ffff)
			setIPv4Checksum(frame[14:34])
			for _, m := range marks {
				n := sent
				for i := m + 7; i >= m; i-- {
					frame[i] = byte('0' + n%10)
					n /= 10
				}
			}
			if err := wire.write(frame); err != nil {
				t.Errorf("flood: %v", err)
				return sent
			}
			sent++
		}
	}
	return sent
}

// ipv4Frame builds an Ethernet/IPv4/UDP frame from src:5060 to dst:5060
// with a valid IP header checksum (the UDP checksum is left out, which
// IPv4 allows).
func ipv4Frame(src, dst netip.Addr, msg string) []byte {
	f := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x66, 0x08, 0x00}
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(msg)))
	ip = append(append(ip, src.AsSlice()...), dst.AsSlice()...)
	setIPv4Checksum(ip)
	udp := []byte{0x13, 0xc4, 0x13, 0xc4, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(msg)))
	return append(append(append(f, ip...), udp...), msg...)
}

// setIPv4Checksum writes the checksum of a 20-byte IPv4 header.
func setIPv4Checksum(ip []byte) {
	ip[10], ip[11] = 0, 0
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
}

// A brute force in the middle of a spoofed flood that the PBX answers
// request by request (at a rate the lab's Kamailio keeps up with) is banned as fast as without the flood: the flood
// neither blinds the inspection nor pushes the attacker's counters out.
func TestBruteForceBannedDuringAnsweredSpoofedFlood(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	// The spoofed sources fail in whole networks: the network rule would
	// ban those and the flood would no longer reach the PBX, which is not
	// what this test measures.
	stop := startDaemon(t, lab, bin, "--scanner-agents", "none", "--register-limit", "5", "--network-limit", "0")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var flooded atomic.Int64
	floodDone := make(chan struct{})
	go func() {
		defer close(floodDone)
		flooded.Store(int64(spoofedFlood(ctx, t, lab, 5000, 100_000)))
	}()
	time.Sleep(2 * time.Second) // the flood fills the source table first

	dict := filepath.Join(t.TempDir(), "passwords.txt")
	var words []string
	for i := range 60 {
		words = append(words, fmt.Sprintf("guess%02d", i))
	}
	if err := os.WriteFile(dict, []byte(strings.Join(words, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// svcrack gives up when the registrar, busy with the flood, leaves its
	// first probe unanswered: then nothing was measured, and it tries once
	// more while the flood goes on.
	var guesses int
	for try := 0; try < 2 && guesses == 0; try++ {
		out := attack(t, lab, "svcrack", "-u", "1001", "-d", dict, "-b", netlab.Attacker4.String(), "--maximumtime", "3", netlab.PBX4.String())
		if _, guesses = reg.Requests("REGISTER", netlab.Attacker4); guesses == 0 {
			t.Logf("svcrack got no answer from the registrar: %s", strings.TrimSpace(out))
		}
	}
	cancel()
	<-floodDone

	_, guesses = reg.Requests("REGISTER", netlab.Attacker4)
	spoofed, _ := reg.Requests("REGISTER", netip.AddrFrom4([4]byte{198, 18, 0, 1}))
	t.Logf("flood: %d spoofed REGISTERs written; %d password guesses reached the registrar", flooded.Load(), guesses)
	if spoofed == 0 {
		t.Error("the registrar saw none of the flood: the test measures nothing")
	}
	if guesses == 0 {
		t.Error("no password guess reached the registrar: the PBX could not answer the attack")
	}
	// The attacker never authenticated: its 5th failure overflows the
	// slow-guessing bucket. When the registrar falls behind under the flood,
	// svcrack retransmits, and its requests can cross the flood rule first:
	// a ban all the same, sooner.
	if guesses > 6 {
		t.Errorf("%d password guesses reached the registrar during the flood; want at most the 5 that overflow the slow-guessing bucket, plus one in flight", guesses)
	}
	status := sipguard(t, lab, bin, "status")
	log := stop()
	banLine := regexp.MustCompile(`msg=ban source=` + regexp.QuoteMeta(netlab.Attacker4.String()) + `/32 .*reason="(slow guessing by a source that never authenticated|request flood)"`)
	switch m := banLine.FindStringSubmatch(log); {
	case m == nil:
		t.Errorf("the attacker was not banned:\n%s", status)
	case strings.HasPrefix(m[1], "slow") && guesses < 5:
		t.Errorf("banned for slow guessing after %d guesses, before its bucket of 4 overflowed", guesses)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "overflowed") || strings.Contains(line, "inspection stopped") || strings.Contains(line, "msg=ban") {
			t.Log(line)
		}
	}
}

// wanWire writes raw Ethernet frames, broadcast, onto the wan host's link:
// frames with any source address, as a spoofing attacker writes them.
type wanWire struct {
	conn *packet.Conn
	dst  *packet.Addr
}

// openWANWire opens a wan wire, closed when the test ends.
func openWANWire(t testing.TB, lab *netlab.Lab) *wanWire {
	t.Helper()
	w := &wanWire{dst: &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}}
	if err := lab.WAN.Do(func() error {
		ifi, err := net.InterfaceByName(netlab.HostIf)
		if err != nil {
			return err
		}
		w.conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.conn.Close() })
	return w
}

func (w *wanWire) write(frame []byte) error {
	_, err := w.conn.WriteTo(frame, w.dst)
	return err
}

// Forged scanner packets with a registered phone's address do not cut the
// phone off; the same packets from an address the PBX never accepted ban
// it at once.
func TestForgedScannerPacketsDoNotCutOffAPhone(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	sock := filepath.Join(t.TempDir(), "api.sock")
	stop := startDaemon(t, lab, bin, "--api", sock)

	office := netlab.Carrier4
	if !phone(t, lab, office, "1001", "s3cret-1001") {
		t.Fatal("the phone could not register")
	}
	forged := func(src netip.Addr) [][]byte {
		var frames [][]byte
		for i := range 5 {
			frames = append(frames, ipv4Frame(src, netlab.PBX4, fmt.Sprintf("OPTIONS sip:100@pbx.example.com SIP/2.0\r\n"+
				"Via: SIP/2.0/UDP %v:5060;branch=z9hG4bKforged%d\r\nFrom: <sip:100@pbx.example.com>;tag=%d\r\n"+
				"To: <sip:100@pbx.example.com>\r\nCall-ID: forged-%d\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\n"+
				"Content-Length: 0\r\n\r\n", src, i, i, i)))
		}
		return frames
	}
	wire := openWANWire(t, lab)
	for _, f := range append(forged(office), forged(netlab.Other4)...) {
		if err := wire.write(f); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if !phone(t, lab, office, "1001", "s3cret-1001") {
		t.Error("the phone could not register after forged scanner packets from its address")
	}
	bans := sipguard(t, lab, bin, "bans")
	if strings.Contains(bans, office.String()) || !strings.Contains(bans, netlab.Other4.String()) {
		t.Errorf("bans: want the never-accepted address, not the phone's:\n%s", bans)
	}
	status := sipguard(t, lab, bin, "--api", sock, "status", "--json")
	if !strings.Contains(status, `"framing_ignored": 5`) {
		t.Errorf("status does not count the 5 ignored packets:\n%s", status)
	}
	if log := stop(); !strings.Contains(log, "scanner User-Agent from a source the PBX accepted") {
		t.Errorf("no alert for the forged packets:\n%s", log)
	}
}

// BenchmarkFloodUnderFire raises the rate of a spoofed REGISTER flood that
// the lab's Kamailio answers, step by step, with a real svcrack brute force
// from a new address at each step. It reports the highest rate at which
// the brute force was still banned within the limit (at most the 5 guesses
// that overflow the slow-guessing bucket reaching the PBX, plus one in flight), and the rate at which
// Kamailio answered the flood, both from the same run. Above the PBX's own
// rate the attacker's guesses stop reaching it at all: that is the PBX
// failing, not the box, and it ends the climb.
func BenchmarkFloodUnderFire(b *testing.B) {
	lab := netlab.NewT(b)
	bin := buildSipguard(b)
	reg := startRegistrar(b, lab)
	// Each step's attacker is a new address of one /24: the network rule
	// would ban the /24 after a few steps (and the spoofed flood's
	// networks at once); it is off, to measure the per-source rules.
	stop := startDaemon(b, lab, bin, "--scanner-agents", "none", "--register-limit", "5", "--block-threshold", "20", "--network-limit", "0")
	defer stop()
	words := make([]string, 60)
	for i := range words {
		words[i] = fmt.Sprintf("guess%02d", i)
	}
	dict := filepath.Join(b.TempDir(), "passwords.txt")
	if err := os.WriteFile(dict, []byte(strings.Join(words, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	svcrack := netlab.RequireTool(b, "svcrack")
	for b.Loop() {
		best, pbxRate := 0.0, 0.0
		for step, rate := range []int{2000, 4000, 8000, 16000, 32000, 64000} {
			attacker := netip.AddrFrom4([4]byte{203, 0, 113, byte(100 + step)})
			if err := netlab.IP(context.Background(), "-n", lab.WAN.Name, "addr", "add", attacker.String()+"/32", "dev", "lo"); err != nil {
				b.Fatal(err)
			}
			if err := lab.RouteFrom(context.Background(), attacker); err != nil {
				b.Fatal(err)
			}
			before := strings.Count(reg.Log.String(), "REQ REGISTER from 198.1")
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			began := time.Now()
			var sent atomic.Int64
			done := make(chan struct{})
			go func() { defer close(done); sent.Store(int64(spoofedFlood(ctx, b, lab, rate, rate*8))) }()
			time.Sleep(2 * time.Second)
			actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = lab.WAN.Command(actx, svcrack, "-u", "1001", "-d", dict, "-b", attacker.String(), "--maximumtime", "3", netlab.PBX4.String()).Run()
			acancel()
			<-done
			cancel()
			secs := time.Since(began).Seconds()
			answered := float64(strings.Count(reg.Log.String(), "REQ REGISTER from 198.1")-before) / secs
			_, guesses := reg.Requests("REGISTER", attacker)
			b.Logf("flood %6d/s asked, %7.0f/s written, PBX answered %6.0f/s: %d guesses reached the PBX", rate, float64(sent.Load())/secs, answered, guesses)
			pbxRate = max(pbxRate, answered)
			if guesses == 0 {
				break // the PBX no longer answers the attacker: past its rate
			}
			if guesses > 6 { // the 5 that overflow the slow-guessing bucket, plus one in flight
				b.Logf("at %d/s the brute force was not banned within the limit", rate)
				break
			}
			best = float64(sent.Load()) / secs
		}
		b.ReportMetric(best, "flood/s-attack-banned")
		b.ReportMetric(pbxRate, "PBX-answers/s")
	}
	for _, line := range strings.Split(stop(), "\n") {
		if strings.Contains(line, "overflowed") || strings.Contains(line, "inspection stopped") {
			b.Log(line)
		}
	}
}

// Password guesses padded past the MTU cross the box as IP fragments (the
// PBX reassembles them, as every PBX does): the box reassembles them too,
// and bans at the limit as it does unfragmented guesses. Over IPv4 and
// IPv6.
func TestFragmentedBruteForceBanned(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	stop := startDaemon(t, lab, bin, "--scanner-agents", "none", "--register-limit", "5")
	pad := strings.Repeat("a", 3000) // two fragments and more on a 1500-byte link
	for _, c := range []struct{ src, pbx netip.Addr }{{netlab.Attacker4, netlab.PBX4}, {netlab.Attacker6, netlab.PBX6}} {
		conn, err := lab.WAN.DialUDP(c.src, netip.AddrPortFrom(c.pbx, 5060))
		if err != nil {
			t.Fatal(err)
		}
		local := conn.LocalAddr().(*net.UDPAddr)
		for i := range 20 {
			fmt.Fprintf(conn, "REGISTER sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP %v;rport;branch=z9hG4bKfrag%d\r\n"+
				"Max-Forwards: 70\r\nFrom: <sip:1001@pbx.example.com>;tag=f%d\r\nTo: <sip:1001@pbx.example.com>\r\n"+
				"Call-ID: frag-%d\r\nCSeq: %d REGISTER\r\nContact: <sip:1001@%v>\r\nX-Padding: %s\r\n"+
				"Authorization: Digest username=\"1001\", realm=\"pbx.example.com\", nonce=\"aGVsbG8\", uri=\"sip:pbx.example.com\", response=\"%032d\"\r\n"+
				"User-Agent: Yealink SIP-T46S\r\nContent-Length: 0\r\n\r\n",
				netip.AddrPortFrom(c.src, uint16(local.Port)), i, i, i, i+1, netip.AddrPortFrom(c.src, uint16(local.Port)), pad, i)
			_ = conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
			_, _ = conn.Read(make([]byte, 4096)) // the PBX's 401, until the ban
		}
		conn.Close()
		_, guesses := reg.Requests("REGISTER", c.src)
		t.Logf("%v: %d fragmented guesses reached the registrar", c.src, guesses)
		if guesses < 5 || guesses > 6 { // a source that never authenticated: its 5th failure bans
			t.Errorf("%v: %d fragmented guesses reached the registrar; want the 5 that overflow the slow-guessing bucket of 4, plus at most one in flight", c.src, guesses)
		}
	}
	bans := sipguard(t, lab, bin, "bans")
	log := stop()
	if !strings.Contains(bans, netlab.Attacker4.String()) || !strings.Contains(bans, "2001:db8:bad:1::/64") {
		t.Errorf("bans:\n%s", bans)
	}
	if !strings.Contains(log, "inspection stopped") {
		t.Errorf("no inspection counters:\n%s", log)
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", log)
	}
}
