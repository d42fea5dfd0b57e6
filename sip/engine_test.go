package sip

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// harness drives an engine with real SIP text, as the capture would.
type harness struct {
	t     *testing.T
	e     *Engine
	now   time.Time
	got   []Decision
	holds []Decision // kept apart: most tests are about bans and alerts
	seq   int
	agent string
}

func newHarness(t *testing.T, mutate func(*Rules)) *harness {
	t.Helper()
	r := DefaultRules()
	if mutate != nil {
		mutate(&r)
	}
	h := &harness{t: t, now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), agent: "Yealink SIP-T46S"}
	e, err := NewEngine(r, 1024, func(d Decision) {
		if d.Action == Hold {
			h.holds = append(h.holds, d)
			return
		}
		h.got = append(h.got, d)
	})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	return h
}

// exchange sends one request from src and, if status is not 0, the PBX's
// answer to it.
func (h *harness) exchange(src netip.Addr, method, ext string, creds bool, status int, extra string) {
	h.t.Helper()
	h.seq++
	auth := ""
	if creds {
		auth = fmt.Sprintf("Authorization: Digest username=%q, realm=\"pbx\", response=\"x\"\r\n", ext)
	}
	common := fmt.Sprintf("Via: SIP/2.0/UDP %v:5060;branch=z9hG4bK%d\r\nFrom: <sip:%s@pbx>;tag=f%d\r\nTo: <sip:%s@pbx>\r\nCall-ID: call-%d\r\nCSeq: %d %s\r\n",
		src, h.seq, ext, h.seq, ext, h.seq, h.seq, method)
	req := fmt.Sprintf("%s sip:%s@pbx SIP/2.0\r\n%sUser-Agent: %s\r\n%sContent-Length: 0\r\n\r\n", method, ext, common, h.agent, auth)
	h.handle(FromWAN, src, req)
	if status != 0 {
		h.handle(FromLAN, src, fmt.Sprintf("SIP/2.0 %d Reason\r\n%s%sContent-Length: 0\r\n\r\n", status, common, extra))
	}
	h.now = h.now.Add(time.Millisecond)
}

func (h *harness) handle(dir Direction, remote netip.Addr, text string) {
	h.t.Helper()
	var m Message
	if err := Parse([]byte(text), &m); err != nil {
		h.t.Fatalf("%v\n%s", err, text)
	}
	pbx := netip.MustParseAddr("192.0.2.10")
	p := Packet{Src: remote, Dst: pbx}
	if dir == FromLAN {
		p.Src, p.Dst = pbx, remote
	}
	h.e.Handle(h.now, dir, &p, &m)
}

func (h *harness) take() []Decision {
	d := h.got
	h.got = nil
	return d
}

func (h *harness) wantOne(action Action, reason Reason) Decision {
	h.t.Helper()
	d := h.take()
	if len(d) != 1 || d[0].Action != action || (d[0].Event != nil && d[0].Event.Reason != reason) {
		h.t.Fatalf("decisions %+v, want one %v for %v", describe(d), action, reason)
	}
	return d[0]
}

func describe(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		s := d.Action.String() + " " + d.Source.String()
		if d.Event != nil {
			s += " " + d.Event.String()
		}
		out = append(out, s)
	}
	return out
}

var (
	attacker = netip.MustParseAddr("203.0.113.66")
	office   = netip.MustParseAddr("198.51.100.10")
)

func TestScannerBannedAtFirstPacket(t *testing.T) {
	h := newHarness(t, nil)
	h.agent = "Friendly-Scanner"
	h.exchange(attacker, "OPTIONS", "100", false, 0, "")
	d := h.wantOne(Ban, ReasonScanner)
	if d.Source != netip.MustParsePrefix("203.0.113.66/32") || d.Duration != 10*time.Minute || d.Event.UserAgent != "Friendly-Scanner" {
		t.Errorf("decision %+v %+v", d, d.Event)
	}
}

// minuteRulesOnly lifts the slow-guessing bucket out of the way (it bans a
// source that never authenticated at its 5th failure, before the minute
// rules' 6th), for the tests of the minute and hourly rules on their own.
func minuteRulesOnly(r *Rules) { r.GuessLimit = 1000 }

func TestRegisterBruteForce(t *testing.T) {
	h := newHarness(t, minuteRulesOnly)
	for range 5 {
		h.exchange(attacker, "REGISTER", "1001", true, 401, "")
	}
	if d := h.take(); len(d) != 0 {
		t.Fatalf("banned before the limit: %v", describe(d))
	}
	h.exchange(attacker, "REGISTER", "1001", true, 401, "")
	d := h.wantOne(Ban, ReasonRegisterBruteForce)
	if d.Event.Extension != "1001" || d.Event.Count != 6 {
		t.Errorf("event %v", d.Event)
	}
}

func TestNormalChallengesNeverCount(t *testing.T) {
	h := newHarness(t, nil)
	for range 100 {
		h.exchange(office, "REGISTER", "1001", false, 401, "")                                       // first challenge
		h.exchange(office, "REGISTER", "1001", true, 401, "WWW-Authenticate: Digest stale=true\r\n") // nonce expired
		h.exchange(office, "INVITE", "0033123456789", false, 407, "")
		h.exchange(office, "INVITE", "0033999", true, 404, "") // a wrong number is not an attack
		h.now = h.now.Add(time.Second)
	}
	if d := h.take(); len(d) != 0 {
		t.Fatalf("normal SIP was judged an attack: %v", describe(d))
	}
}

func TestEnumerationAndInviteRule(t *testing.T) {
	h := newHarness(t, func(r *Rules) { minuteRulesOnly(r); r.InviteBlockTime = time.Hour })
	for i := range 6 {
		h.exchange(attacker, "REGISTER", fmt.Sprint(100+i), false, 404, "")
	}
	h.wantOne(Ban, ReasonRegisterBruteForce)

	other := netip.MustParseAddr("203.0.113.77")
	for range 6 {
		h.exchange(other, "INVITE", "0033123456789", true, 403, "")
	}
	if d := h.wantOne(Ban, ReasonInviteBruteForce); d.Duration != time.Hour {
		t.Errorf("INVITE ban lasts %v, want its own block time", d.Duration)
	}
}

func TestKnownGoodSourceAlertsInsteadOfBan(t *testing.T) {
	h := newHarness(t, nil)
	h.exchange(office, "REGISTER", "1001", true, 200, "")
	for range 10 { // a deleted extension's phone behind the same NAT
		h.exchange(office, "REGISTER", "1009", true, 401, "")
	}
	d := h.wantOne(Alert, ReasonKnownGoodFailures)
	if d.Event.Extension != "1009" {
		t.Errorf("alert names extension %q", d.Event.Extension)
	}
	// Past the tolerance the failures count again: an office that attacks
	// is banned like anyone.
	for range 6 {
		h.exchange(office, "REGISTER", "1009", true, 401, "")
	}
	h.wantOne(Ban, ReasonRegisterBruteForce)
	folded := []byte("fold1\r\n \tcall")
	if n := testing.AllocsPerRun(100, func() { h.e.wordHash(folded) }); n != 0 {
		t.Errorf("hashing a folded Call-ID allocated %v times", n)
	}
}

func TestHijackAlert(t *testing.T) {
	h := newHarness(t, nil)
	for i, src := range []string{"198.51.100.10", "203.0.113.5", "2001:db8:7::1"} {
		h.exchange(netip.MustParseAddr(src), "REGISTER", "1001", true, 200, "")
		if i < 2 {
			if d := h.take(); len(d) != 0 {
				t.Fatalf("alert too early: %v", describe(d))
			}
		}
	}
	h.wantOne(Alert, ReasonHijack)
}

func TestAllowlistedNeverBanned(t *testing.T) {
	h := newHarness(t, func(r *Rules) { r.Allowed = func(a netip.Addr) bool { return a == attacker } })
	h.agent = "sipvicious"
	for range 50 {
		h.exchange(attacker, "REGISTER", "1001", true, 403, "")
	}
	if d := h.take(); len(d) != 0 {
		t.Fatalf("allowlisted source banned: %v", describe(d))
	}
}

func TestBanRefreshAndBanAgain(t *testing.T) {
	h := newHarness(t, func(r *Rules) { r.BlockThreshold = 2; r.BlockTime = time.Minute })
	h.agent = "sipcli/v1.8"
	h.exchange(attacker, "OPTIONS", "1", false, 0, "")
	h.wantOne(Ban, ReasonScanner)
	// Still sending while banned: the ban restarts, not more often than
	// every few seconds.
	for range 20 {
		h.exchange(attacker, "OPTIONS", "1", false, 0, "")
	}
	if d := h.take(); len(d) != 0 {
		t.Fatalf("refreshed too often: %v", describe(d))
	}
	h.now = h.now.Add(7 * time.Second)
	h.exchange(attacker, "OPTIONS", "1", false, 0, "")
	h.wantOne(Refresh, 0)
	// After a minute of silence the ban is over; the next offence is a new
	// ban. The engine never decides "permanent", whatever the threshold:
	// the enforcement side owns the ban history.
	h.now = h.now.Add(2 * time.Minute)
	h.exchange(attacker, "OPTIONS", "1", false, 0, "")
	d := h.wantOne(Ban, ReasonScanner)
	if d.Event.Bans != 0 {
		t.Errorf("the engine counted %d bans; the ban history is the enforcement side's", d.Event.Bans)
	}
	h.exchange(attacker, "OPTIONS", "1", false, 0, "")
	if d := h.take(); len(d) != 0 {
		t.Fatalf("decisions right after the ban: %v", describe(d))
	}
}

func TestFloodAndIPv6Prefix(t *testing.T) {
	h := newHarness(t, nil)
	n := 0
	for ; n < 200 && len(h.got) == 0; n++ { // 1000 a second, rotating inside one /64
		a := netip.MustParseAddr(fmt.Sprintf("2001:db8:bad:1::%x", n+1))
		h.exchange(a, "OPTIONS", "1", false, 0, "")
	}
	d := h.wantOne(Ban, ReasonFlood)
	if d.Source != netip.MustParsePrefix("2001:db8:bad:1::/64") {
		t.Errorf("flood ban on %v, want the /64", d.Source)
	}
	if n <= 100 || n > 110 {
		t.Errorf("flood banned after %d requests at 1000/s; the limit is 50/s with a burst of 100", n)
	}
}

func TestSlowBruteForce(t *testing.T) {
	h := newHarness(t, minuteRulesOnly)
	n := 0
	for ; n < 200 && len(h.got) == 0; n++ {
		h.exchange(attacker, "REGISTER", "1001", true, 401, "")
		h.now = h.now.Add(30 * time.Second) // far under 5 a minute
	}
	d := h.wantOne(Ban, ReasonSlowBruteForce)
	if n <= 30 || n > 60 {
		t.Errorf("slow attack banned after %d failures (30/hour limit, one every 30 s)", n)
	}
	_ = d
}

func TestSpoofedFloodKeepsMemoryFlatAndRealAttackBanned(t *testing.T) {
	h := newHarness(t, nil)
	var m Message
	text := []byte("OPTIONS sip:1@pbx SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nFrom: <sip:1@pbx>;tag=1\r\nTo: <sip:1@pbx>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n")
	if err := Parse(text, &m); err != nil {
		t.Fatal(err)
	}
	var p Packet
	p.Dst = netip.MustParseAddr("192.0.2.10")
	for i := range 200_000 {
		p.Src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		h.e.Handle(h.now, FromWAN, &p, &m)
		if i%1000 == 0 {
			h.exchange(attacker, "REGISTER", "1001", true, 401, "")
		}
	}
	if n := h.e.Tracked(); n > 1024 {
		t.Errorf("tracking %d sources, capacity 1024", n)
	}
	got := h.take()
	// Failures a few milliseconds apart from a source that never
	// authenticated: the slow-guessing bucket (4) bans at the 5th, before
	// the minute rule's 6th.
	if len(got) != 1 || got[0].Event == nil || got[0].Event.Reason != ReasonSlowGuessing || got[0].Source.Addr() != attacker {
		t.Errorf("decisions %v, want the real attacker banned once", describe(got))
	}
}

func TestHandleAllocatesNothing(t *testing.T) {
	// The hijack's country check is on the path of every registration.
	h := newHarness(t, func(r *Rules) { r.Country = func(netip.Addr) string { return "FR" } })
	mk := func(s string) *Message {
		var m Message
		if err := Parse([]byte(strings.ReplaceAll(s, "\n", "\r\n")), &m); err != nil {
			t.Fatal(err)
		}
		return &m
	}
	req := mk("REGISTER sip:pbx SIP/2.0\nVia: SIP/2.0/UDP a;branch=z9hG4bKa\nFrom: <sip:1@pbx>;tag=1\nTo: <sip:1@pbx>\nCall-ID: c\nCSeq: 1 REGISTER\nUser-Agent: Yealink\nAuthorization: Digest username=\"1\"\n\n")
	ok := mk("SIP/2.0 200 OK\nVia: SIP/2.0/UDP a;branch=z9hG4bKa\nFrom: <sip:1@pbx>;tag=1\nTo: <sip:1@pbx>;tag=2\nCall-ID: c\nCSeq: 1 REGISTER\n\n")
	in := &Packet{Src: office, Dst: netip.MustParseAddr("192.0.2.10")}
	out := &Packet{Src: in.Dst, Dst: office}
	if n := testing.AllocsPerRun(1000, func() {
		h.e.Handle(h.now, FromWAN, in, req)
		h.e.Handle(h.now, FromLAN, out, ok)
		h.now = h.now.Add(time.Second)
	}); n != 0 {
		t.Errorf("Handle allocates %v times per exchange", n)
	}
	// A failure that counts without a ban: the source's rules, its
	// slow-guessing bucket and its network's.
	deny := mk("SIP/2.0 401 Unauthorized\nVia: SIP/2.0/UDP a;branch=z9hG4bKa\nFrom: <sip:1@pbx>;tag=1\nTo: <sip:1@pbx>;tag=2\nCall-ID: c\nCSeq: 1 REGISTER\n\n")
	in.Src, out.Dst = attacker, attacker
	if n := testing.AllocsPerRun(1000, func() {
		h.e.Handle(h.now, FromWAN, in, req)
		h.e.Handle(h.now, FromLAN, out, deny)
		h.now = h.now.Add(20 * time.Minute)
	}); n != 0 || len(h.got) != 0 {
		t.Errorf("a counted failure allocates %v times; decisions %v", n, describe(h.got))
	}
}

func BenchmarkParseAndHandleRegister(b *testing.B) {
	msg := load(b, "register.sip")
	e, err := NewEngine(DefaultRules(), DefaultSources, func(Decision) {})
	if err != nil {
		b.Fatal(err)
	}
	p := &Packet{Src: office, Dst: netip.MustParseAddr("192.0.2.10")}
	now := time.Now()
	var m Message
	b.ReportAllocs()
	for b.Loop() {
		if err := Parse(msg, &m); err != nil {
			b.Fatal(err)
		}
		e.Handle(now, FromWAN, p, &m)
		now = now.Add(time.Second)
	}
}

// The two ports are read side by side, so the PBX's answer can be handled
// before the request it answers; it must count all the same.
func TestAnswerBeforeRequest(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 6 {
		req := fmt.Sprintf("REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKe%d\r\nFrom: <sip:1001@pbx>;tag=%d\r\nTo: <sip:1001@pbx>\r\nCall-ID: early-%d\r\nCSeq: 1 REGISTER\r\nAuthorization: Digest username=\"1001\"\r\n\r\n", i, i, i)
		resp := fmt.Sprintf("SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKe%d\r\nFrom: <sip:1001@pbx>;tag=%d\r\nTo: <sip:1001@pbx>;tag=x\r\nCall-ID: early-%d\r\nCSeq: 1 REGISTER\r\n\r\n", i, i, i)
		h.handle(FromLAN, attacker, resp)
		h.handle(FromWAN, attacker, req)
	}
	// Banned at the 5th by the slow-guessing bucket (the attacker never
	// authenticated); the 6th finds it banned.
	h.wantOne(Ban, ReasonSlowGuessing)
	folded := []byte("fold1\r\n \tcall")
	if n := testing.AllocsPerRun(100, func() { h.e.wordHash(folded) }); n != 0 {
		t.Errorf("hashing a folded Call-ID allocated %v times", n)
	}
}

// A User-Agent found clean is not scanned again for the same source, but a
// new User-Agent, or new scanner names, are.
func TestScannerCheckCachedPerSource(t *testing.T) {
	h := newHarness(t, nil)
	for range 3 {
		h.exchange(attacker, "OPTIONS", "1", false, 0, "")
	}
	rules := DefaultRules()
	rules.ScannerAgents = append(rules.ScannerAgents, "Yealink")
	if err := h.e.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	h.exchange(attacker, "OPTIONS", "1", false, 0, "")
	h.wantOne(Ban, ReasonScanner)

	other := netip.MustParseAddr("203.0.113.77")
	h.agent = "Linphone/5.0"
	h.exchange(other, "OPTIONS", "1", false, 0, "")
	h.agent = "sundayddr"
	h.exchange(other, "OPTIONS", "1", false, 0, "")
	h.wantOne(Ban, ReasonScanner)
}

// A Call-ID folded over two lines in the request and written on one line
// in the PBX's answer is the same transaction: folding cannot hide guesses.
func TestFoldedCallIDStillCorrelates(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 6 {
		common := fmt.Sprintf("Via: SIP/2.0/UDP %v:5060;branch=z9hG4bKf%d\r\nFrom: <sip:1001@pbx>;tag=f%d\r\nTo: <sip:1001@pbx>\r\nCSeq: 1 REGISTER\r\n", attacker, i, i)
		h.handle(FromWAN, attacker, "REGISTER sip:pbx SIP/2.0\r\n"+common+
			fmt.Sprintf("Call-ID: fold%d\r\n \tcall\r\n", i)+
			"Authorization: Digest username=\"1001\", realm=\"pbx\", response=\"x\"\r\nContent-Length: 0\r\n\r\n")
		h.handle(FromLAN, attacker, "SIP/2.0 401 Unauthorized\r\n"+common+
			fmt.Sprintf("Call-ID: fold%d call\r\n", i)+"Content-Length: 0\r\n\r\n")
		h.now = h.now.Add(time.Millisecond)
	}
	h.wantOne(Ban, ReasonSlowGuessing) // at the 5th: the slow-guessing bucket
	folded := []byte("fold1\r\n \tcall")
	if n := testing.AllocsPerRun(100, func() { h.e.wordHash(folded) }); n != 0 {
		t.Errorf("hashing a folded Call-ID allocated %v times", n)
	}
}

func TestFailureFloodKeepsTheAttackersCounters(t *testing.T) {
	// The spoofed sources share networks: the network rule would ban
	// those, which is not what this test is about.
	h := newHarness(t, func(r *Rules) { r.NetworkLimit = 0 })
	// Spoofed sources, each earning one failure (a REGISTER with
	// credentials the PBX refuses), many times more than the table holds,
	// with a real brute force in the middle of them.
	failures := 0
	for i := range 20_000 {
		spoofed := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		h.exchange(spoofed, "REGISTER", "1001", true, 401, "")
		if i%400 == 0 {
			failures++
			h.exchange(attacker, "REGISTER", "1001", true, 401, "")
			if len(h.got) > 0 {
				break
			}
		}
	}
	// The attacker never authenticated: its 5th failure does not fit the
	// slow-guessing bucket of 4.
	d := h.wantOne(Ban, ReasonSlowGuessing)
	if d.Source.Addr() != attacker || failures != DefaultRules().GuessLimit+1 {
		t.Errorf("banned %v after %d failures, want the attacker after %d", d.Source, failures, DefaultRules().GuessLimit+1)
	}
	if st := h.e.Stats(); st.Tracked > 1024 || st.EvictedActive == 0 {
		t.Errorf("stats %+v: want at most 1024 sources and spoofed ones evicted", st)
	}
}

func TestScannerFloodDoesNotEvictCounters(t *testing.T) {
	h := newHarness(t, nil)
	// A random-source flood of forged scanner packets: each one is a ban,
	// and bans are the first state to go when the table is full.
	agent := h.agent
	failures := 0
	for i := range 20_000 {
		h.agent = "friendly-scanner"
		h.exchange(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), "OPTIONS", "100", false, 0, "")
		h.agent = agent
		if i%400 == 0 {
			h.take()
			failures++
			h.exchange(attacker, "REGISTER", "1001", true, 401, "")
			if len(h.got) > 0 {
				break
			}
		}
	}
	// The attacker never authenticated: its 5th failure does not fit the
	// slow-guessing bucket of 4.
	d := h.wantOne(Ban, ReasonSlowGuessing)
	if d.Source.Addr() != attacker || failures != DefaultRules().GuessLimit+1 {
		t.Errorf("banned %v after %d failures, want the attacker after %d", d.Source, failures, DefaultRules().GuessLimit+1)
	}
}

func TestForgedScannerPacketDoesNotBanAcceptedSource(t *testing.T) {
	h := newHarness(t, nil)
	carrier := netip.MustParseAddr("192.0.2.77")
	h.exchange(office, "REGISTER", "1001", true, 200, "") // a phone that registered
	h.exchange(carrier, "INVITE", "1001", false, 200, "") // a trunk whose call the PBX took
	h.agent = "friendly-scanner"
	for _, src := range []netip.Addr{office, carrier} {
		for range 3 {
			h.exchange(src, "OPTIONS", "100", false, 0, "")
		}
		// One alert per source, no ban.
		if d := h.wantOne(Alert, ReasonScannerFromAnswered); d.Source.Addr() != src {
			t.Errorf("alert for %v, want %v", d.Source, src)
		}
	}
	// Anyone else is banned at the first packet, as before.
	h.exchange(attacker, "OPTIONS", "100", false, 0, "")
	h.wantOne(Ban, ReasonScanner)
	if st := h.e.Stats(); st.FramingIgnored != 6 {
		t.Errorf("ignored %d scanner packets, want 6", st.FramingIgnored)
	}
	// The trust window ends: the forged packet bans again.
	h.now = h.now.Add(DefaultRules().TrustWindow + time.Second)
	h.exchange(carrier, "OPTIONS", "100", false, 0, "")
	h.wantOne(Ban, ReasonScanner)
}

func TestEvictionOrder(t *testing.T) {
	now := int64(time.Hour)
	r := &compiledRules{Rules: DefaultRules()}
	idle := sourceState{}
	seenAgain := sourceState{ref: true}
	banned := sourceState{bannedUntil: now + 1}
	oneFailure := sourceState{registerTAT: now + int64(12*time.Second)}
	fourFailures := sourceState{registerTAT: now + int64(48*time.Second)}
	trusted := sourceState{trustedUntil: now + 1}
	order := []sourceState{idle, seenAgain, banned, oneFailure, fourFailures, trusted}
	for i := 1; i < len(order); i++ {
		if order[i-1].worth(now, r) >= order[i].worth(now, r) {
			t.Errorf("%+v is worth no less than %+v", order[i-1], order[i])
		}
	}
}

func TestSuspect(t *testing.T) {
	h := newHarness(t, nil)
	h.exchange(office, "OPTIONS", "100", false, 200, "")
	h.exchange(attacker, "REGISTER", "1001", true, 401, "")
	stranger := netip.MustParseAddr("192.0.2.99")
	if !h.e.Suspect(attacker) || h.e.Suspect(office) || h.e.Suspect(stranger) {
		t.Errorf("suspect: attacker %v, office %v, stranger %v; want only the attacker",
			h.e.Suspect(attacker), h.e.Suspect(office), h.e.Suspect(stranger))
	}
	if n := h.e.Tracked(); n != 2 {
		t.Errorf("asking added a source: %d tracked", n)
	}
}

func TestHeldThreeFailuresAwayFromABan(t *testing.T) {
	h := newHarness(t, nil)
	// A source that never authenticated is banned at its 5th failure (the
	// slow-guessing bucket of 4), so its 2nd leaves it three away.
	limit := DefaultRules().GuessLimit
	h.exchange(attacker, "REGISTER", "1001", true, 401, "")
	if len(h.holds) != 0 {
		t.Fatalf("held after one failure, %d away from a ban", limit)
	}
	h.exchange(attacker, "REGISTER", "1001", true, 401, "")
	if len(h.holds) != 1 || h.holds[0].Source.Addr() != attacker {
		t.Fatalf("holds %v, want the attacker held", describe(h.holds))
	}
	// Three more failures would ban until the bucket has leaked a quarter
	// of its period; the hold lasts a minute from the last failure.
	if d := h.holds[0].Duration; d != time.Minute {
		t.Errorf("held for %v", d)
	}
	for range 3 {
		h.exchange(attacker, "REGISTER", "1001", true, 401, "")
	}
	h.wantOne(Ban, ReasonSlowGuessing)
	if len(h.holds) != 3 {
		t.Errorf("holds %v: want the hold extended by the third and fourth failures", describe(h.holds))
	}

	// The minute rule on its own holds three failures away from its ban.
	h1 := newHarness(t, minuteRulesOnly)
	rl := DefaultRules().RegisterLimit
	for i := 1; i < rl-1; i++ {
		h1.exchange(attacker, "REGISTER", "1001", true, 401, "")
		if i < rl-2 && len(h1.holds) != 0 {
			t.Fatalf("held after %d failures, %d away from a ban", i, rl+1-i)
		}
	}
	if len(h1.holds) != 1 {
		t.Fatalf("holds %v, want the attacker held", describe(h1.holds))
	}
	if d := h1.holds[0].Duration; d < time.Second || d > time.Minute {
		t.Errorf("held for %v", d)
	}
	for range 3 {
		h1.exchange(attacker, "REGISTER", "1001", true, 401, "")
	}
	h1.wantOne(Ban, ReasonRegisterBruteForce)

	// The allowlist is never held, and a failure-free source never is.
	h2 := newHarness(t, func(r *Rules) { r.Allowed = func(a netip.Addr) bool { return a == attacker } })
	for range rl + 3 {
		h2.exchange(attacker, "REGISTER", "1001", true, 401, "")
		h2.exchange(office, "REGISTER", "1001", true, 200, "")
	}
	if len(h2.holds) != 0 || len(h2.got) != 0 {
		t.Errorf("holds %v, decisions %v", describe(h2.holds), describe(h2.got))
	}
}

// An answer read before its request is kept for it, even when another
// source's request with the same Call-ID, CSeq and branch holds the slot.
func TestEarlyAnswerBehindAnotherSourcesRequest(t *testing.T) {
	h := newHarness(t, nil)
	other := netip.MustParseAddr("192.0.2.99")
	req := func(src netip.Addr) string {
		return fmt.Sprintf("REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP %v:5060;branch=z9hG4bKsame\r\nFrom: <sip:1001@pbx>;tag=1\r\nTo: <sip:1001@pbx>\r\nCall-ID: same\r\nCSeq: 1 REGISTER\r\nAuthorization: Digest username=\"1001\", response=\"x\"\r\nContent-Length: 0\r\n\r\n", src)
	}
	answer := "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP x:5060;branch=z9hG4bKsame\r\nFrom: <sip:1001@pbx>;tag=1\r\nTo: <sip:1001@pbx>\r\nCall-ID: same\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
	for range DefaultRules().GuessLimit + 1 {
		h.handle(FromWAN, other, req(other))       // in the slot first
		h.handle(FromLAN, attacker, answer)        // the attacker's answer, early
		h.handle(FromWAN, attacker, req(attacker)) // then its request
		h.now = h.now.Add(time.Millisecond)
	}
	if d := h.wantOne(Ban, ReasonSlowGuessing); d.Source.Addr() != attacker {
		t.Errorf("banned %v", d.Source)
	}
}

// Any 5 failures within 10 minutes from a source that never authenticated
// ban it, whatever their spacing: at least as strict as fail2ban's stock
// Asterisk jail (maxretry 5, findtime 10 minutes).
func TestSlowGuessingAnyFiveInTenMinutes(t *testing.T) {
	h := newHarness(t, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		// One /64 per trial: a source of its own, and no network counting.
		src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(trial >> 8), byte(trial), 15: 1})
		var times []time.Time
		banned := -1
		for i := 0; i < 40 && banned < 0; i++ {
			// Gaps from nothing to 20 minutes, most of them a few minutes.
			gap := time.Duration(rng.ExpFloat64() * float64(4*time.Minute))
			h.now = h.now.Add(min(gap, 20*time.Minute))
			times = append(times, h.now)
			h.exchange(src, "REGISTER", "1001", true, 401, "")
			for _, d := range h.take() {
				if d.Action == Ban {
					if d.Event.Reason != ReasonSlowGuessing {
						t.Fatalf("trial %d: banned for %v", trial, d.Event.Reason)
					}
					banned = i
				}
			}
		}
		for i := 4; i < len(times); i++ {
			if times[i].Sub(times[i-4]) < 10*time.Minute && (banned < 0 || banned > i) {
				t.Fatalf("trial %d: failures %d-%d within %v, banned at %d", trial, i-4, i, times[i].Sub(times[i-4]), banned)
			}
		}
		h.now = h.now.Add(DefaultRules().GuessPeriod) // the bucket empties
	}
}

// The bucket leaks one failure every period/limit: a source failing at that
// pace, or 4 times an hour apart, is never banned, and neither is one that
// the PBX accepted.
func TestSlowGuessingSpacedFailuresNeverBanned(t *testing.T) {
	h := newHarness(t, nil)
	r := DefaultRules()
	for range 4 {
		h.exchange(attacker, "REGISTER", "1001", true, 401, "")
		h.now = h.now.Add(time.Hour)
	}
	other := netip.MustParseAddr("198.51.100.77")
	for range 96 { // a day
		h.exchange(other, "REGISTER", "1001", true, 401, "")
		h.now = h.now.Add(r.GuessPeriod / time.Duration(r.GuessLimit))
	}
	if d := h.take(); len(d) != 0 {
		t.Fatalf("spaced failures banned: %v", describe(d))
	}
	// A phone authenticated by its address (a REGISTER without credentials
	// answered 2xx) is not a source that never authenticated: 5 failures
	// in 10 minutes are under its minute and hourly rules.
	phone := netip.MustParseAddr("198.51.100.20")
	h.exchange(phone, "REGISTER", "1001", false, 200, "")
	for range 5 {
		h.exchange(phone, "REGISTER", "1002", true, 401, "")
		h.now = h.now.Add(2 * time.Minute)
	}
	if d := h.take(); len(d) != 0 {
		t.Fatalf("an accepted source was banned by the slow-guessing bucket: %v", describe(d))
	}
}

func TestNetworkGuessing(t *testing.T) {
	h := newHarness(t, nil)
	net24 := netip.MustParsePrefix("203.0.113.0/24")
	// Three addresses of one /24, four failures each: each fits its own
	// bucket of 4, the network's 10 overflow at the 11th.
	n := 0
	for _, a := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
		for range 4 {
			n++
			h.exchange(netip.MustParseAddr(a), "REGISTER", "1001", true, 401, "")
			if n <= DefaultRules().NetworkLimit && len(h.got) != 0 {
				t.Fatalf("decisions after %d failures: %v", n, describe(h.got))
			}
			if len(h.got) != 0 {
				break
			}
		}
	}
	d := h.wantOne(Ban, ReasonNetworkGuessing)
	if d.Source != net24 || n != DefaultRules().NetworkLimit+1 || d.Duration != DefaultRules().BlockTime {
		t.Errorf("ban of %v after %d failures for %v, want %v after %d", d.Source, n, d.Duration, net24, DefaultRules().NetworkLimit+1)
	}
	// Another address of the banned network counts as banned: its requests
	// refresh the network's ban, its failures count nowhere.
	fourth := netip.MustParseAddr("203.0.113.4")
	for range 10 {
		h.exchange(fourth, "REGISTER", "1001", true, 401, "")
	}
	if d := h.take(); len(d) != 0 {
		t.Fatalf("decisions for an address of a banned network: %v", describe(d))
	}
	h.now = h.now.Add(11 * time.Second)
	h.exchange(fourth, "OPTIONS", "1001", false, 0, "")
	if d := h.wantOne(Refresh, 0); d.Source != net24 {
		t.Errorf("refresh of %v, want %v", d.Source, net24)
	}
	// A manual unban makes the engine forget the network's ban too.
	h.e.Forget(net24.Addr())
	h.now = h.now.Add(11 * time.Second)
	h.exchange(fourth, "OPTIONS", "1001", false, 0, "")
	if d := h.take(); len(d) != 0 {
		t.Fatalf("decisions after the unban: %v", describe(d))
	}
}

// One noisy address is the per-source rules' business: the network needs
// failures from at least three of its addresses.
func TestNetworkGuessingNeedsThreeAddresses(t *testing.T) {
	h := newHarness(t, func(r *Rules) { r.GuessLimit = 1000 }) // the network rule on its own
	noisy, second := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
	for range 20 {
		h.exchange(noisy, "REGISTER", "1001", true, 401, "")
		h.exchange(second, "REGISTER", "1001", true, 401, "")
		h.now = h.now.Add(30 * time.Second) // under the minute and hourly rules
	}
	if d := h.take(); len(d) != 0 {
		t.Fatalf("two addresses banned: %v", describe(h.got))
	}
	h.exchange(netip.MustParseAddr("203.0.113.3"), "REGISTER", "1001", true, 401, "")
	h.wantOne(Ban, ReasonNetworkGuessing)

	// A network with a source the PBX accepted is never banned whole, and
	// that source's failures do not count toward it.
	h = newHarness(t, func(r *Rules) { r.GuessLimit = 1000 })
	h.exchange(office, "REGISTER", "1001", true, 200, "")
	for i := range 30 {
		h.exchange(netip.AddrFrom4([4]byte{198, 51, 100, byte(20 + i%5)}), "REGISTER", "1001", true, 401, "")
		h.exchange(office, "REGISTER", "1009", true, 401, "")
		h.now = h.now.Add(30 * time.Second)
	}
	for _, d := range h.take() {
		if d.Action == Ban {
			t.Errorf("the office's network was banned: %v", describe([]Decision{d}))
		}
	}

	// IPv6: a source is a /64 by default, as wide as the network: not
	// counted. With sources of /128, the /64 is the network.
	h = newHarness(t, func(r *Rules) { r.Prefix6 = 128 })
	for i := range 3 * DefaultRules().GuessLimit {
		h.exchange(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xad, 0, 1, 15: byte(1 + i%3)}), "REGISTER", "1001", true, 401, "")
		if len(h.got) != 0 {
			break
		}
	}
	if d := h.wantOne(Ban, ReasonNetworkGuessing); d.Source != netip.MustParsePrefix("2001:db8:bad:1::/64") {
		t.Errorf("banned %v", d.Source)
	}

	// Off.
	h = newHarness(t, func(r *Rules) { r.GuessLimit = 1000; r.NetworkLimit = 0 })
	for i := range 30 {
		h.exchange(netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i%5)}), "REGISTER", "1001", true, 401, "")
		h.now = h.now.Add(30 * time.Second)
	}
	if d := h.take(); len(d) != 0 {
		t.Fatalf("network_limit 0 banned: %v", describe(d))
	}
}

// A source that registers one account correctly and guesses another's
// password is banned: a success does not refill the tolerance.
func TestOneValidAccountAttackerBanned(t *testing.T) {
	h := newHarness(t, nil)
	r := DefaultRules()
	guesses, alerts, banned := 0, 0, 0
	for guesses < 100 && banned == 0 {
		h.exchange(attacker, "REGISTER", "1001", true, 200, "") // the account it knows
		for range 3 {
			guesses++
			h.exchange(attacker, "REGISTER", "1002", true, 401, "")
			for _, d := range h.take() {
				switch {
				case d.Action == Alert && d.Event.Reason == ReasonKnownGoodFailures:
					alerts++
				case d.Action == Ban:
					if d.Event.Reason != ReasonRegisterBruteForce {
						t.Errorf("banned for %v", d.Event.Reason)
					}
					banned = guesses
				}
			}
		}
	}
	if banned == 0 || banned > r.TrustedFailures+r.RegisterLimit+1 || alerts != 1 {
		t.Errorf("banned after %d wrong passwords with %d alerts; want at most %d, one alert", banned, alerts, r.TrustedFailures+r.RegisterLimit+1)
	}
}

// A trusted source enumerating extensions has its failures tolerated on at
// most TrustedOtherExtensions of them; the rest count at once.
func TestTrustedSourceEnumeratingBanned(t *testing.T) {
	h := newHarness(t, nil)
	r := DefaultRules()
	h.exchange(office, "REGISTER", "1001", true, 200, "")
	n, alerts := 0, 0
	for ext := 2000; ext < 2100; ext++ {
		n++
		h.exchange(office, "REGISTER", fmt.Sprint(ext), false, 404, "")
		d := h.take()
		if len(d) == 1 && d[0].Action == Alert {
			alerts++
			continue
		}
		if len(d) == 1 && d[0].Action == Ban && d[0].Event.Reason == ReasonRegisterBruteForce {
			break
		}
		if len(d) != 0 {
			t.Fatalf("decisions %v", describe(d))
		}
	}
	if want := r.TrustedOtherExtensions + r.RegisterLimit + 1; n != want || alerts != r.TrustedOtherExtensions {
		t.Errorf("banned after %d extensions with %d alerts, want %d with %d", n, alerts, want, r.TrustedOtherExtensions)
	}
}

// The tolerance of a (source, account) pair is not given back when its
// entry is lost: the account then counts as one that never succeeded from
// the source, which has its own small bound.
func TestLostTrustEntryErrsOnCounting(t *testing.T) {
	h := newHarness(t, func(r *Rules) { r.TrustedOtherExtensions = 0 })
	h.exchange(office, "REGISTER", "1001", true, 200, "")
	h.exchange(office, "REGISTER", "1001", true, 401, "")
	h.wantOne(Alert, ReasonKnownGoodFailures)
	// Another pair takes the entry's place.
	k := keyOf(office, 32)
	var m Message
	if err := Parse([]byte("REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKa\r\nFrom: <sip:1001@pbx>;tag=1\r\nTo: <sip:1001@pbx>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nAuthorization: Digest username=\"1001\"\r\n\r\n"), &m); err != nil {
		t.Fatal(err)
	}
	tx := h.e.remember(&m, office, h.now.UnixNano())
	en := h.e.trust.find(h.e.pairHash(k, tx.extHash))
	if en == nil {
		t.Fatal("no entry for the account that succeeded")
	}
	*en = trustEntry{check: 2}
	for range DefaultRules().RegisterLimit + 1 {
		h.exchange(office, "REGISTER", "1001", true, 401, "")
	}
	h.wantOne(Ban, ReasonRegisterBruteForce)

	// The table itself: a set full of live entries gives up the one whose
	// validity ends first.
	var tt trustTable
	now := int64(time.Hour)
	for i := range ways + 1 {
		en := tt.add(uint64(i+1)<<48|7<<32, now) // all in set 7
		en.validUntil = now + int64(i+1)
	}
	if tt.find(1<<48|7<<32) != nil || tt.find(uint64(ways+1)<<48|7<<32) == nil {
		t.Error("the entry ending first was not the one replaced")
	}
}

// A trunk (an INVITE without credentials answered 2xx) has its failed
// calls tolerated up to TrunkFailures; a carrier the PBX never answered is
// banned; a trunk's REGISTER failures are not excused.
func TestTrunkFailuresTolerated(t *testing.T) {
	h := newHarness(t, nil)
	r := DefaultRules()
	carrier := netip.MustParseAddr("192.0.2.77")
	h.exchange(carrier, "INVITE", "0033123456789", false, 200, "")
	for range r.TrunkFailures {
		h.exchange(carrier, "INVITE", "0033123456789", false, 403, "")
	}
	h.wantOne(Alert, ReasonTrunkFailures)
	// Beyond, they count as anyone's (the minute rule; a trunk is not a
	// source that never authenticated).
	for range r.InviteLimit + 1 {
		h.exchange(carrier, "INVITE", "0033123456789", false, 403, "")
	}
	h.wantOne(Ban, ReasonInviteBruteForce)

	stranger := netip.MustParseAddr("192.0.2.78")
	for range r.GuessLimit + 1 {
		h.exchange(stranger, "INVITE", "0033123456789", false, 403, "")
	}
	h.wantOne(Ban, ReasonSlowGuessing)

	other := netip.MustParseAddr("192.0.2.79")
	h.exchange(other, "INVITE", "0033123456789", false, 200, "")
	for range r.RegisterLimit + 1 {
		h.exchange(other, "REGISTER", "1001", true, 401, "")
	}
	h.wantOne(Ban, ReasonRegisterBruteForce)
}

func TestHijack(t *testing.T) {
	sources := []netip.Addr{office, netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("2001:db8:7::1")}
	// Alert: at the third source within the window, once.
	h := newHarness(t, nil)
	for _, src := range sources {
		h.exchange(src, "REGISTER", "1001", true, 200, "")
	}
	h.wantOne(Alert, ReasonHijack)
	for _, src := range sources {
		h.exchange(src, "REGISTER", "1001", true, 200, "") // re-registrations
	}
	if d := h.take(); len(d) != 0 {
		t.Fatalf("re-registrations alerted again: %v", describe(d))
	}
	// Spread over more than the window: nothing.
	h = newHarness(t, nil)
	for _, src := range sources {
		h.exchange(src, "REGISTER", "1001", true, 200, "")
		h.now = h.now.Add(6 * time.Minute)
	}
	if d := h.take(); len(d) != 0 {
		t.Fatalf("registrations 6 minutes apart alerted: %v", describe(d))
	}

	// Ban: the third source is banned; the first two go on registering.
	h = newHarness(t, func(r *Rules) { r.HijackAction = HijackBan })
	for _, src := range sources {
		h.exchange(src, "REGISTER", "1001", true, 200, "")
	}
	d := h.wantOne(Ban, ReasonHijack)
	if d.Source != netip.MustParsePrefix("2001:db8:7::/64") || d.Duration != DefaultRules().BlockTime || d.Event.Extension != "1001" {
		t.Errorf("ban %+v %v", d, d.Event)
	}
	for _, src := range sources[:2] {
		h.exchange(src, "REGISTER", "1001", true, 200, "")
	}
	if d := h.take(); len(d) != 0 {
		t.Fatalf("the extension's own sources: %v", describe(d))
	}
	// An allowlisted source is never banned for it: an alert.
	h = newHarness(t, func(r *Rules) {
		r.HijackAction = HijackBan
		r.Allowed = func(a netip.Addr) bool { return a == sources[2] }
	})
	for _, src := range sources {
		h.exchange(src, "REGISTER", "1001", true, 200, "")
	}
	h.wantOne(Alert, ReasonHijack)
}

func TestHijackNewCountry(t *testing.T) {
	elsewhere := netip.MustParseAddr("203.0.113.5")
	country := func(a netip.Addr) string {
		switch a {
		case office:
			return "FR"
		case elsewhere:
			return "CN"
		}
		return ""
	}
	for _, action := range []HijackAction{HijackAlert, HijackBan} {
		h := newHarness(t, func(r *Rules) { r.Country = country; r.HijackAction = action })
		h.exchange(office, "REGISTER", "1001", true, 200, "")
		h.exchange(netip.MustParseAddr("192.0.2.99"), "REGISTER", "1001", true, 200, "") // unknown country
		if d := h.take(); len(d) != 0 {
			t.Fatalf("%v: decisions %v", action, describe(d))
		}
		h.exchange(elsewhere, "REGISTER", "1001", true, 200, "")
		want := Alert
		if action == HijackBan {
			want = Ban
		}
		if d := h.wantOne(want, ReasonHijack); d.Source.Addr() != elsewhere {
			t.Errorf("%v: %v", action, describe([]Decision{d}))
		}
		if action == HijackBan { // the extension's country stays its own
			h.exchange(office, "REGISTER", "1001", true, 200, "")
			if d := h.take(); len(d) != 0 {
				t.Fatalf("the extension's own country: %v", describe(d))
			}
		}
	}
	// Off, or a day later: nothing.
	h := newHarness(t, func(r *Rules) { r.Country = country; r.HijackNewCountry = false })
	h.exchange(office, "REGISTER", "1001", true, 200, "")
	h.exchange(elsewhere, "REGISTER", "1001", true, 200, "")
	h = newHarness(t, func(r *Rules) { r.Country = country })
	h.exchange(office, "REGISTER", "1001", true, 200, "")
	h.now = h.now.Add(25 * time.Hour)
	h.exchange(elsewhere, "REGISTER", "1001", true, 200, "")
	if d := h.take(); len(d) != 0 {
		t.Fatalf("decisions %v", describe(d))
	}
}

// Every new setting is checked, and its message names the key.
func TestRulesValidateNewKeys(t *testing.T) {
	for _, c := range []struct {
		mutate func(*Rules)
		want   string
	}{
		{func(r *Rules) { r.GuessLimit = 0 }, "guess_limit: 0 is outside 1–1000"},
		{func(r *Rules) { r.GuessPeriod = time.Second }, "guess_period: 1s is outside 1m–24h"},
		{func(r *Rules) { r.Network4 = 33 }, "network4: 33 is outside 8–32"},
		{func(r *Rules) { r.Network6 = 16 }, "network6: 16 is outside 32–128"},
		{func(r *Rules) { r.NetworkLimit = -1 }, "network_limit: -1 is outside 0–100000"},
		{func(r *Rules) { r.TrustedOtherExtensions = 101 }, "trusted_other_extensions: 101 is outside 0–100"},
		{func(r *Rules) { r.TrunkFailures = -1 }, "trunk_failures: -1 is outside 0–100000"},
		{func(r *Rules) { r.HijackSources = 5 }, "hijack_sources: 5 is outside 2–4"},
		{func(r *Rules) { r.HijackWindow = 0 }, "hijack_window: 0s is outside 1m–24h"},
		{func(r *Rules) { r.HijackAction = "block" }, `hijack_action: "block" is not alert or ban`},
	} {
		r := DefaultRules()
		c.mutate(&r)
		err := r.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
		e, _ := NewEngine(DefaultRules(), 16, func(Decision) {})
		if err := e.SetRules(r); err == nil || e.rules.Load().Rules.HijackAction != HijackAlert {
			t.Errorf("bad rules %q were taken", c.want)
		}
	}
}
