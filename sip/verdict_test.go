package sip

import (
	"net/netip"
	"testing"
	"time"
)

// firstPacket decodes a packet that starts at its IP header, parses its SIP
// message and judges it, as the first-packet queue does.
func firstPacket(t *testing.T, e *Engine, now time.Time, ip []byte) Verdict {
	t.Helper()
	var (
		p Packet
		m Message
	)
	if err := DecodeIP(ip, &p); err != nil {
		t.Fatalf("DecodeIP: %v", err)
	}
	if err := Parse(p.Payload, &m); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return e.FirstPacket(now, p.Src, &m)
}

// ipPacket builds a UDP packet to the PBX's SIP port, from its IP header on.
func ipPacket(src netip.Addr, agent string) []byte {
	dst := pbx4
	if src.Is6() {
		dst = pbx6
	}
	text := "OPTIONS sip:100@pbx SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK1\r\nFrom: <sip:100@pbx>;tag=1\r\n" +
		"To: <sip:100@pbx>\r\nCall-ID: first\r\nCSeq: 1 OPTIONS\r\nUser-Agent: " + agent + "\r\nContent-Length: 0\r\n\r\n"
	f := frameSpec{src: src, dst: dst, proto: ProtoUDP, srcPort: 5060, dstPort: 5060, payload: []byte(text)}.build()
	return f[14:] // the queue hands packets over from the IP header
}

func TestFirstPacketVerdict(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct {
		name  string
		src   netip.Addr
		agent string
		want  Verdict
	}{
		{"scanner over IPv4", attacker4, "friendly-scanner", Drop},
		{"scanner over IPv6", attacker6, "sipvicious 0.3.4", Drop},
		{"scanner name in any case", attacker4, "SIPVicious", Drop},
		{"phone", office, "Yealink SIP-T46S", Forward},
		{"phone over IPv6", attacker6, "Yealink SIP-T46S", Forward},
		{"no User-Agent", attacker4, "", Forward},
	} {
		if got := firstPacket(t, h.e, h.now, ipPacket(tc.src, tc.agent)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if n := h.e.Tracked(); n != 0 {
		t.Errorf("judging added %d sources: it must only read the engine's state", n)
	}
	if len(h.take()) != 0 {
		t.Error("judging emitted decisions")
	}
}

func TestFirstPacketBannedSourceDropped(t *testing.T) {
	h := newHarness(t, nil)
	h.agent = "friendly-scanner"
	h.exchange(attacker, "OPTIONS", "100", false, 0, "")
	h.wantOne(Ban, ReasonScanner)
	// Banned: even a clean User-Agent is dropped, and so is every address
	// of the source's prefix.
	if got := firstPacket(t, h.e, h.now, ipPacket(attacker, "Yealink SIP-T46S")); got != Drop {
		t.Errorf("banned source: %v, want drop", got)
	}
	// The ban ends: the source is judged afresh.
	later := h.now.Add(DefaultRules().BlockTime + time.Second)
	if got := firstPacket(t, h.e, later, ipPacket(attacker, "Yealink SIP-T46S")); got != Forward {
		t.Errorf("after the ban: %v, want forward", got)
	}
}

func TestFirstPacketAllowlistAndAcceptedSources(t *testing.T) {
	carrier := netip.MustParseAddr("198.51.100.20")
	h := newHarness(t, func(r *Rules) { r.Allowed = func(a netip.Addr) bool { return a == carrier } })
	if got := firstPacket(t, h.e, h.now, ipPacket(carrier, "friendly-scanner")); got != Forward {
		t.Errorf("allowlisted scanner: %v, want forward", got)
	}
	h.exchange(office, "REGISTER", "1001", true, 200, "") // a phone that registered
	if got := firstPacket(t, h.e, h.now, ipPacket(office, "friendly-scanner")); got != Forward {
		t.Errorf("forged scanner packet from a registered phone: %v, want forward", got)
	}
	later := h.now.Add(DefaultRules().TrustWindow + time.Second)
	if got := firstPacket(t, h.e, later, ipPacket(office, "friendly-scanner")); got != Drop {
		t.Errorf("after the trust window: %v, want drop", got)
	}
}

func TestFirstPacketFollowsTheRules(t *testing.T) {
	h := newHarness(t, nil)
	pkt := ipPacket(attacker4, "friendly-scanner")
	if got := firstPacket(t, h.e, h.now, pkt); got != Drop {
		t.Fatalf("default rules: %v, want drop", got)
	}
	r := DefaultRules()
	r.ScannerAgents = nil
	if err := h.e.SetRules(r); err != nil {
		t.Fatal(err)
	}
	if got := firstPacket(t, h.e, h.now, pkt); got != Forward {
		t.Errorf("no scanner names: %v, want forward", got)
	}
	r.ScannerAgents = []string{"yealink"}
	if err := h.e.SetRules(r); err != nil {
		t.Fatal(err)
	}
	if got := firstPacket(t, h.e, h.now, ipPacket(office, "Yealink SIP-T46S")); got != Drop {
		t.Errorf("a name added to the list: %v, want drop", got)
	}
}

func TestDecodeIP(t *testing.T) {
	for _, src := range []netip.Addr{attacker4, attacker6} {
		var p Packet
		if err := DecodeIP(ipPacket(src, "x"), &p); err != nil {
			t.Fatalf("%v: %v", src, err)
		}
		if p.Src != src || p.Proto != ProtoUDP || p.DstPort != 5060 || len(p.Payload) == 0 {
			t.Errorf("%v: decoded %+v", src, p)
		}
	}
	frag := frameSpec{src: attacker4, dst: pbx4, proto: ProtoUDP, srcPort: 5060, dstPort: 5060, payload: []byte("x"), fragOffset: 0x2000}.build()[14:]
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"not IP", []byte{0x20, 0, 0, 0}, ErrNotIP},
		{"truncated IPv4", ipPacket(attacker4, "x")[:30], ErrShort},
		{"truncated IPv6", ipPacket(attacker6, "x")[:20], ErrShort},
		{"fragment", frag, ErrFragment},
	} {
		var p Packet
		if err := DecodeIP(tc.b, &p); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestFirstPacketAllocatesNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.exchange(attacker, "OPTIONS", "100", false, 0, "") // a source with state
	pkts := [][]byte{ipPacket(attacker4, "friendly-scanner"), ipPacket(attacker6, "Yealink"), ipPacket(office, "Yealink")}
	var (
		p Packet
		m Message
	)
	if n := testing.AllocsPerRun(1000, func() {
		for _, b := range pkts {
			if DecodeIP(b, &p) == nil && Parse(p.Payload, &m) == nil {
				h.e.FirstPacket(h.now, p.Src, &m)
			}
		}
	}); n != 0 {
		t.Errorf("%v allocations per run, want none", n)
	}
}

func BenchmarkFirstPacketJudge(b *testing.B) {
	e, err := NewEngine(DefaultRules(), DefaultSources, func(Decision) {})
	if err != nil {
		b.Fatal(err)
	}
	pkt := ipPacket(attacker4, "Yealink SIP-T46S")
	now := time.Now()
	var (
		p Packet
		m Message
	)
	b.ReportAllocs()
	for b.Loop() {
		if DecodeIP(pkt, &p) != nil || Parse(p.Payload, &m) != nil || e.FirstPacket(now, p.Src, &m) != Forward {
			b.Fatal("not forwarded")
		}
	}
}
