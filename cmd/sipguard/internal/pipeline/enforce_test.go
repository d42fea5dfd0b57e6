package pipeline

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

func newEnforcer(t *testing.T, o Options) *Enforcer {
	t.Helper()
	if o.Threshold == 0 {
		o.Threshold = 5
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDecisionsQueuedTogetherAreOneBatch(t *testing.T) {
	k := &fakeKernel{}
	e := newEnforcer(t, Options{Kernel: k})
	for _, src := range []string{"203.0.113.1/32", "203.0.113.2/32", "2001:db8:bad:1::/64"} {
		e.Submit(ban(src, sip.ReasonScanner))
	}
	start(t, e)
	eventually(t, "the bans", func() bool { return len(k.banned()) == 3 })
	if b := k.batches(); len(b) != 1 {
		t.Errorf("%d kernel batches for 3 decisions queued together, want 1", len(b))
	}
	if got := e.Stats(); got.Decisions != 3 || got.Batches != 1 {
		t.Errorf("stats %+v", got)
	}
	// A lone decision later is applied at once, in a batch of its own.
	e.Submit(ban("203.0.113.4/32", sip.ReasonFlood))
	eventually(t, "the fourth ban", func() bool { return len(k.banned()) == 4 })
}

func TestFullQueueDropsAndCounts(t *testing.T) {
	e := newEnforcer(t, Options{Kernel: &fakeKernel{}, Queue: 2})
	for range 5 {
		e.Submit(ban("203.0.113.1/32", sip.ReasonFlood)) // never blocks, even with nothing running
	}
	if got := e.Stats().DecisionsDropped; got != 3 {
		t.Errorf("dropped %d, want 3", got)
	}
}

// TestEngineToKernel runs the engine's decisions through the enforcer: a
// brute force is banned after the limit, the ban is restarted while the
// source keeps sending, and the journal gets the ban with its reason.
func TestEngineToKernel(t *testing.T) {
	k, j := &fakeKernel{}, newFakeJournal()
	rules := sip.DefaultRules()
	rules.BlockTime = 20 * time.Second
	engine := startChain(t, Options{Kernel: k, Journal: j}, rules)
	f := frames{remote: netip.MustParseAddr("203.0.113.66"), pbx: netip.MustParseAddr("192.0.2.10")}
	now := time.Now()
	exchange := func(seq int) {
		req, resp := f.register(seq, 403)
		for _, x := range []struct {
			frame []byte
			dir   sip.Direction
		}{{req, sip.FromWAN}, {resp, sip.FromLAN}} {
			var p sip.Packet
			var m sip.Message
			if err := sip.Decode(x.frame, &p); err != nil {
				t.Fatal(err)
			}
			if err := sip.Parse(p.Payload, &m); err != nil {
				t.Fatal(err)
			}
			engine.Handle(now, x.dir, &p, &m)
		}
		now = now.Add(10 * time.Millisecond)
	}
	// The source never authenticated: the slow-guessing bucket
	// (GuessLimit failures) bans it at the next, before the minute rule.
	for seq := 1; seq <= rules.GuessLimit; seq++ {
		exchange(seq)
	}
	time.Sleep(20 * time.Millisecond)
	if got := k.banned(); len(got) != 0 {
		t.Fatalf("banned after %d failures (the limit): %v", rules.GuessLimit, got)
	}
	exchange(rules.GuessLimit + 1)
	eventually(t, "the ban", func() bool { return len(k.banned()) == 1 })
	if b := k.batches()[0][0]; b.Addr != f.remote || b.Timeout != rules.BlockTime {
		t.Errorf("ban %+v, want %v for %v", b, f.remote, rules.BlockTime)
	}
	// Still sending while banned (the capture sees what the kernel drops):
	// the ban restarts.
	now = now.Add(3 * time.Second)
	exchange(100)
	eventually(t, "the refresh", func() bool { return len(k.banned()) == 2 })
	eventually(t, "the journal", func() bool { d, _, evs := j.snapshot(); return len(d) == 2 && len(evs) == 1 })
	dyn, _, evs := j.snapshot()
	if dyn[0].Reason != sip.ReasonSlowGuessing.String() || dyn[1].Reason != "" || dyn[1].Until.Before(dyn[0].Until) {
		t.Errorf("journal's dynamic bans %+v: want the reason once, then a later end", dyn)
	}
	if evs[0].Action != "ban" || evs[0].Count != rules.GuessLimit+1 || evs[0].Source != prefix("203.0.113.66/32") {
		t.Errorf("event %+v", evs[0])
	}
	if j.history[prefix("203.0.113.66/32")].Count != 1 {
		t.Errorf("ban history %v: a refresh is not a new ban", j.history)
	}
}

func TestEscalationToPermanent(t *testing.T) {
	k, j := &fakeKernel{}, newFakeJournal()
	var alerts []store.Event
	var durations []time.Duration
	var mu sync.Mutex
	e := newEnforcer(t, Options{Kernel: k, Journal: j, Threshold: 3, Hooks: Hooks{
		Country: func(netip.Addr) string { return "NL" },
		Alert:   func(ev store.Event) { mu.Lock(); alerts = append(alerts, ev); mu.Unlock() },
		Decided: func(_ store.Event, d time.Duration) { mu.Lock(); durations = append(durations, d); mu.Unlock() },
	}})
	start(t, e)
	src := prefix("203.0.113.66/32")
	for i := 1; i <= 2; i++ {
		e.Submit(ban(src.String(), sip.ReasonRegisterBruteForce))
		eventually(t, "a dynamic ban", func() bool { return len(k.banned()) == i })
	}
	if _, ok := k.lastRules(); ok {
		t.Fatal("a ruleset was applied before the threshold")
	}
	d := ban(src.String(), sip.ReasonRegisterBruteForce)
	e.Submit(d)
	eventually(t, "the permanent ban", func() bool { r, ok := k.lastRules(); return ok && slices.Contains(r.Permanent, src) })
	if n := len(k.banned()); n != 2 {
		t.Errorf("%d dynamic bans: the third ban should be permanent only", n)
	}
	if d.Event.Action != sip.Permanent || d.Event.Bans != 3 {
		t.Errorf("event %v with %d bans, want permanent with 3", d.Event.Action, d.Event.Bans)
	}
	eventually(t, "the journal", func() bool { _, p, _ := j.snapshot(); return len(p) == 1 })
	_, perms, _ := j.snapshot()
	if p := perms[0]; p.Prefix != src || p.Bans != 3 || p.Reason != "REGISTER brute force" || p.Country != "NL" || p.UserAgent != "friendly-scanner" {
		t.Errorf("permanent ban recorded as %+v", p)
	}
	// A permanent source's later decisions change nothing.
	before := e.Stats().Decisions
	e.Submit(ban(src.String(), sip.ReasonScanner))
	e.Submit(sip.Decision{Action: sip.Refresh, Source: src, Duration: time.Minute})
	e.Submit(ban("198.51.100.7/32", sip.ReasonScanner)) // a marker behind them
	eventually(t, "the marker", func() bool { return len(k.banned()) == 3 })
	if got := e.Stats().Decisions - before; got != 1 {
		t.Errorf("%d decisions applied, want only the marker's", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(alerts) != 4 || alerts[2].Action != "permanent" {
		t.Errorf("alerts %+v", alerts)
	}
	// The CrowdSec agent gets each event with its ban's duration; a
	// permanent ban has none.
	if len(durations) != 4 || durations[0] != d.Duration || durations[2] != 0 {
		t.Errorf("durations %v, want the bans' (%v), 0 for the permanent one", durations, d.Duration)
	}
}

// TestHistoryOutlivesRestart: the ban history comes from the journal, so a
// source banned before a restart reaches the threshold after it.
func TestHistoryOutlivesRestart(t *testing.T) {
	j := newFakeJournal()
	src := prefix("2001:db8:bad:1::/64")
	j.history[src] = store.History{Count: 4}
	k := &fakeKernel{}
	e := newEnforcer(t, Options{Kernel: k, Journal: j, Threshold: 5})
	start(t, e)
	e.Submit(ban(src.String(), sip.ReasonScanner))
	eventually(t, "the permanent ban", func() bool { r, ok := k.lastRules(); return ok && slices.Contains(r.Permanent, src) })
	eventually(t, "the history", func() bool { n, _ := j.BanCounts(src); return n[0] == 5 })
}

// TestHistoryBounded: the counts kept in memory are bounded; a forgotten
// one is read again from the journal.
func TestHistoryBounded(t *testing.T) {
	j := newFakeJournal()
	k := &fakeKernel{}
	e := newEnforcer(t, Options{Kernel: k, Journal: j, Threshold: 2, HistorySize: 4})
	stop := start(t, e)
	first := prefix("203.0.113.1/32")
	e.Submit(ban(first.String(), sip.ReasonScanner))
	for i := 2; i <= 20; i++ {
		e.Submit(ban(netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 32).String(), sip.ReasonScanner))
	}
	eventually(t, "20 bans", func() bool { return len(k.banned()) == 20 })
	eventually(t, "the journal", func() bool { n, _ := j.BanCounts(first); return n[0] == 1 })
	e.Submit(ban(first.String(), sip.ReasonScanner))
	eventually(t, "the first source made permanent", func() bool { r, ok := k.lastRules(); return ok && slices.Contains(r.Permanent, first) })
	stop()
	if n := len(e.history.records); n > 4 {
		t.Errorf("%d counts in memory, bound 4", n)
	}
}

func TestAllowlistWins(t *testing.T) {
	k := &fakeKernel{}
	rules := netfilter.Ruleset{Allow: []netip.Prefix{prefix("198.51.100.0/24"), prefix("203.0.113.9/32")}}
	e := newEnforcer(t, Options{Kernel: k, Rules: rules, Threshold: 1})
	start(t, e)
	e.Submit(ban("198.51.100.7/32", sip.ReasonScanner)) // inside an allowed network
	e.Submit(ban("203.0.113.9/32", sip.ReasonFlood))
	// A /24 aggregate holding one allowed address is still banned: the
	// kernel lets the allowed address through.
	e.Submit(ban("203.0.113.0/24", sip.ReasonFlood))
	eventually(t, "the aggregate's ban", func() bool { r, ok := k.lastRules(); return ok && len(r.Permanent) == 1 })
	r, _ := k.lastRules()
	if r.Permanent[0] != prefix("203.0.113.0/24") || len(k.banned()) != 0 {
		t.Errorf("permanent %v, dynamic %v: only 203.0.113.0/24 should be banned", r.Permanent, k.banned())
	}
}

func TestReloadKeepsPermanents(t *testing.T) {
	k := &fakeKernel{}
	stored := prefix("192.0.2.99/32") // from the state file at start
	e := newEnforcer(t, Options{Kernel: k, Rules: netfilter.Ruleset{Permanent: []netip.Prefix{stored}}, Threshold: 1})
	start(t, e)
	src := prefix("203.0.113.66/32")
	e.Submit(ban(src.String(), sip.ReasonScanner))
	eventually(t, "the permanent ban", func() bool { r, ok := k.lastRules(); return ok && slices.Contains(r.Permanent, src) })
	// A new configuration: its ruleset knows only the state file's lists.
	next := netfilter.Ruleset{Permanent: []netip.Prefix{stored}, DNSGuard: true}
	if err := e.Reload(context.Background(), next, 2, 0); err != nil {
		t.Fatal(err)
	}
	r, _ := k.lastRules()
	if !r.DNSGuard || !slices.Contains(r.Permanent, src) || !slices.Contains(r.Permanent, stored) || len(r.Permanent) != 2 {
		t.Errorf("after reload: DNS guard %v, permanent %v", r.DNSGuard, r.Permanent)
	}
	// The new threshold holds: one ban is no longer permanent.
	e.Submit(ban("203.0.113.67/32", sip.ReasonScanner))
	eventually(t, "a dynamic ban", func() bool { return len(k.banned()) == 1 })
	if err := e.Reload(context.Background(), next, 0, 0); err == nil {
		t.Error("a threshold of 0 was accepted")
	}
}

func TestKernelErrorSurfaces(t *testing.T) {
	k := &fakeKernel{}
	var mu sync.Mutex
	var faults []error
	e := newEnforcer(t, Options{Kernel: k, Hooks: Hooks{KernelFault: func(err error) { mu.Lock(); faults = append(faults, err); mu.Unlock() }}})
	start(t, e)
	refused := errors.New("netlink: operation not permitted")
	k.setFail(refused)
	e.Submit(ban("203.0.113.1/32", sip.ReasonScanner))
	eventually(t, "the kernel error", func() bool { return e.Stats().KernelErrors == 1 })
	if err := e.Reload(context.Background(), netfilter.Ruleset{}, 5, 0); !errors.Is(err, refused) {
		t.Errorf("Reload = %v, want the kernel's error", err)
	}
	k.setFail(nil)
	e.Submit(ban("203.0.113.2/32", sip.ReasonScanner))
	eventually(t, "the ban", func() bool { return len(k.banned()) == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(faults) != 3 || !errors.Is(faults[0], refused) || !errors.Is(faults[1], refused) || faults[2] != nil {
		t.Errorf("faults %v: want the error twice, then cleared", faults)
	}
	if got := e.Stats().KernelErrors; got != 2 {
		t.Errorf("%d kernel errors counted, want 2", got)
	}
}

func TestJournalFaultAndDrainOnStop(t *testing.T) {
	k, j := &fakeKernel{}, newFakeJournal()
	var mu sync.Mutex
	var faults []error
	e := newEnforcer(t, Options{Kernel: k, Journal: j, Hooks: Hooks{JournalFault: func(err error) { mu.Lock(); faults = append(faults, err); mu.Unlock() }}})
	j.fail = errors.New("disk full")
	stop := start(t, e)
	e.Submit(ban("203.0.113.1/32", sip.ReasonScanner))
	eventually(t, "the journal error", func() bool { return e.Stats().JournalErrors == 1 })
	if len(k.banned()) != 1 {
		t.Error("a journal error held up the ban")
	}
	j.mu.Lock()
	j.fail = nil
	j.mu.Unlock()
	for i := 2; i <= 50; i++ {
		e.Submit(ban(netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 32).String(), sip.ReasonScanner))
	}
	eventually(t, "the bans", func() bool { return len(k.banned()) == 50 })
	stop() // whatever is queued for the journal is written before Run returns
	dyn, _, evs := j.snapshot()
	if len(dyn) != 49 || len(evs) != 49 {
		t.Errorf("journal holds %d bans and %d events after stop, want 49 each", len(dyn), len(evs))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(faults) == 0 || faults[0] == nil || faults[len(faults)-1] != nil {
		t.Errorf("faults %v: want the error, then cleared", faults)
	}
}

func TestBansInForceBounded(t *testing.T) {
	j := newFakeJournal()
	k := &fakeKernel{}
	e := newEnforcer(t, Options{Kernel: k, Journal: j, MaxBans: 4})
	stop := start(t, e)
	// A random-source flood that earns a ban per packet: ten sources, the
	// first three banned longer than the rest.
	for i := 1; i <= 10; i++ {
		d := ban(netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 32).String(), sip.ReasonScanner)
		if i <= 3 {
			d.Duration = time.Hour
		}
		e.Submit(d)
		eventually(t, "the ban", func() bool { return len(k.banned()) == i })
	}
	stop()
	inForce := k.inForce()
	if len(inForce) != 4 {
		t.Errorf("%d bans in force, bound 4: %v", len(inForce), inForce)
	}
	for i := 1; i <= 3; i++ { // the longest bans stay; the shorter ones, oldest first, made room
		if a := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}); !inForce[a] {
			t.Errorf("%v, banned for an hour, was lifted early", a)
		}
	}
	if !inForce[netip.MustParseAddr("203.0.113.10")] {
		t.Error("the newest ban is not in force")
	}
	if st := e.Stats(); st.BansEvicted != 6 || st.BansInForce != 4 {
		t.Errorf("stats %+v: want 6 lifted early, 4 in force", st)
	}
	if dyn, _, _ := j.snapshot(); len(dyn) != 4 {
		t.Errorf("the state file keeps %d dynamic bans, want the 4 in force", len(dyn))
	}
}

func TestInForceForgetsEndedBans(t *testing.T) {
	f := newInForce(2)
	var evicted []netip.Prefix
	evict := func(p netip.Prefix) { evicted = append(evicted, p) }
	a, b, c := prefix("203.0.113.1/32"), prefix("203.0.113.2/32"), prefix("203.0.113.3/32")
	f.put(a, 10, 0, evict)
	f.put(b, 20, 0, evict)
	for i := range 1000 { // refreshes: the heap's stale entries stay bounded
		f.put(b, int64(20+i), 0, evict)
	}
	if len(f.heap) > 2*f.len()+64 {
		t.Errorf("heap of %d for %d bans", len(f.heap), f.len())
	}
	f.put(c, 30, 15, evict) // a ended at 10: room without lifting anyone
	if len(evicted) != 0 || f.len() != 2 {
		t.Errorf("evicted %v, %d in force", evicted, f.len())
	}
	f.put(a, 40, 15, evict) // full: c ends first
	if !slices.Equal(evicted, []netip.Prefix{c}) {
		t.Errorf("evicted %v, want %v", evicted, c)
	}
}

func TestHoldsGoToTheKernelAlone(t *testing.T) {
	j := newFakeJournal()
	k := &fakeKernel{}
	e := newEnforcer(t, Options{Kernel: k, Journal: j, Rules: netfilter.Ruleset{Allow: []netip.Prefix{prefix("198.51.100.0/24")}}})
	stop := start(t, e)
	e.Submit(sip.Decision{Action: sip.Hold, Source: prefix("203.0.113.9/32"), Duration: 40 * time.Second})
	e.Submit(sip.Decision{Action: sip.Hold, Source: prefix("198.51.100.7/32"), Duration: 40 * time.Second}) // allowlisted
	eventually(t, "the hold", func() bool { return len(k.holds()) > 0 })
	stop()
	if h := k.holds(); len(h) != 1 || h[0].Addr != netip.MustParseAddr("203.0.113.9") || h[0].Timeout != 40*time.Second {
		t.Errorf("holds %v", h)
	}
	dyn, perms, evs := j.snapshot()
	if len(k.banned()) != 0 || len(dyn)+len(perms)+len(evs) != 0 || e.history.count(prefix("203.0.113.9/32"), time.Now()) != 0 {
		t.Errorf("a hold is not a ban: banned %v, journal %v %v %v", k.banned(), dyn, perms, evs)
	}
	if st := e.Stats(); st.Holds != 1 {
		t.Errorf("stats %+v", st)
	}
}

// A batch that bans a source does not hold it too: the hold would only
// make the ban wait for one more round trip to the kernel.
func TestBanInTheBatchMakesItsHoldMoot(t *testing.T) {
	k := &fakeKernel{}
	e := newEnforcer(t, Options{Kernel: k})
	attacker, other := prefix("203.0.113.9/32"), prefix("203.0.113.10/32")
	e.apply([]sip.Decision{
		{Action: sip.Hold, Source: attacker, Duration: 40 * time.Second},
		{Action: sip.Hold, Source: other, Duration: 40 * time.Second},
		{Action: sip.Ban, Source: attacker, Duration: time.Minute,
			Event: &sip.Event{Action: sip.Ban, Source: attacker, Addr: attacker.Addr(), Reason: sip.ReasonSlowGuessing, Count: 5}},
	})
	if h := k.holds(); len(h) != 1 || h[0].Addr != other.Addr() {
		t.Errorf("holds %v, want only %v's", h, other)
	}
	if b := k.banned(); len(b) != 1 || b[0] != attacker.Addr() {
		t.Errorf("banned %v, want %v", b, attacker)
	}
}
