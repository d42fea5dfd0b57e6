package pipeline

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

const week = 7 * 24 * time.Hour

// A network ban, and a network's hold, reach the kernel as networks.
func TestNetworkBanReachesKernel(t *testing.T) {
	k := &fakeKernel{}
	e := newEnforcer(t, Options{Kernel: k, Rules: netfilter.Defaults()})
	start(t, e)
	e.Submit(sip.Decision{Action: sip.Hold, Source: prefix("198.51.100.0/24"), Duration: time.Minute})
	e.Submit(ban("203.0.113.0/24", sip.ReasonNetworkGuessing))
	e.Submit(ban("2001:db8:bad::/48", sip.ReasonNetworkGuessing))
	eventually(t, "the bans", func() bool { return len(k.banned()) == 2 })
	var got []netip.Prefix
	for _, b := range k.batches()[0] {
		got = append(got, netip.PrefixFrom(b.Addr, b.Bits))
	}
	if want := []netip.Prefix{prefix("203.0.113.0/24"), prefix("2001:db8:bad::/48")}; !slices.Equal(got, want) {
		t.Errorf("kernel bans %v, want %v", got, want)
	}
	if h := k.holds(); len(h) != 1 || netip.PrefixFrom(h[0].Addr, h[0].Bits) != prefix("198.51.100.0/24") {
		t.Errorf("holds %v, want the held /24", h)
	}
}

// A source's ban count is forgiven one ban per full decay since its last
// ban: four bans two weeks ago and one now is three, not the threshold of
// five; with no decay it is five.
func TestBanDecayForgives(t *testing.T) {
	for _, c := range []struct {
		decay     time.Duration
		bans      int
		permanent bool
	}{{week, 3, false}, {0, 5, true}} {
		j, k := newFakeJournal(), &fakeKernel{}
		src := prefix("203.0.113.66/32")
		j.history[src] = store.History{Count: 4, Last: time.Now().Add(-2*week - time.Hour)}
		e := newEnforcer(t, Options{Kernel: k, Journal: j, Threshold: 5, BanDecay: c.decay})
		stop := start(t, e)
		e.Submit(ban(src.String(), sip.ReasonScanner))
		eventually(t, "the journal", func() bool { _, _, evs := j.snapshot(); return len(evs) == 1 })
		stop()
		_, perms, evs := j.snapshot()
		if evs[0].Action == "permanent" != c.permanent || (len(perms) == 1) != c.permanent {
			t.Errorf("decay %v: event %+v, permanent bans %v; want permanent %v", c.decay, evs[0], perms, c.permanent)
		}
		if n, _ := j.BanCounts(src); n[0] != c.bans {
			t.Errorf("decay %v: the journal counts %d bans, want %d", c.decay, n[0], c.bans)
		}
	}
	if _, err := New(Options{Kernel: &fakeKernel{}, Threshold: 1, BanDecay: -time.Hour}); err == nil {
		t.Error("a negative decay was accepted")
	}
}

// A permanent ban is lifted from the kernel and the journal with its
// source's history, and logged; the source's next ban is a dynamic one
// again; an address not banned is reported as such.
func TestLiftPermanent(t *testing.T) {
	j, k := newFakeJournal(), &fakeKernel{}
	e := newEnforcer(t, Options{Kernel: k, Journal: j, Threshold: 2, Rules: netfilter.Defaults()})
	start(t, e)
	ctx := context.Background()
	src := prefix("203.0.113.66/32")
	for range 2 {
		e.Submit(ban(src.String(), sip.ReasonScanner))
	}
	eventually(t, "the permanent ban", func() bool { r, ok := k.lastRules(); return ok && slices.Contains(r.Permanent, src) })
	eventually(t, "the journal", func() bool { _, perms, _ := j.snapshot(); return len(perms) == 1 })
	asked := []netip.Prefix{prefix("203.0.113.66/32"), prefix("198.51.100.7/32"), prefix("203.0.113.0/24")}
	covered, err := e.Permanents(ctx, asked)
	if err != nil || len(covered) != 3 || !slices.Equal(covered[0], []netip.Prefix{src}) || len(covered[1]) != 0 || !slices.Equal(covered[2], []netip.Prefix{src}) {
		t.Fatalf("Permanents = %v, %v", covered, err)
	}
	if r, _ := k.lastRules(); !slices.Contains(r.Permanent, src) {
		t.Fatal("asking lifted the ban")
	}
	lifted, err := e.LiftPermanent(ctx, asked[:2])
	if err != nil || !slices.Equal(lifted[0], []netip.Prefix{src}) || len(lifted[1]) != 0 {
		t.Fatalf("LiftPermanent = %v, %v", lifted, err)
	}
	if r, _ := k.lastRules(); slices.Contains(r.Permanent, src) {
		t.Error("the kernel's permanent list still holds the source")
	}
	_, perms, evs := j.snapshot()
	if len(perms) != 0 || evs[len(evs)-1].Action != store.ActionUnban || evs[len(evs)-1].Source != src {
		t.Errorf("journal: permanent %v, last event %+v", perms, evs[len(evs)-1])
	}
	if n, _ := j.BanCounts(src); n[0] != 0 {
		t.Errorf("the ban history kept %d bans", n[0])
	}
	e.Submit(ban(src.String(), sip.ReasonScanner))
	eventually(t, "the next ban", func() bool { return len(k.banned()) == 2 })
	time.Sleep(10 * time.Millisecond)
	if r, _ := k.lastRules(); slices.Contains(r.Permanent, src) {
		t.Error("the next ban after the lift made the source permanent again")
	}
	// Nothing to lift: no kernel change, no error.
	applied := len(k.applied)
	if lifted, err := e.LiftPermanent(ctx, asked[1:2]); err != nil || len(lifted[0]) != 0 || len(k.applied) != applied {
		t.Errorf("lifting nothing: %v, %v, %d applies", lifted, err, len(k.applied)-applied)
	}
}

// A ban made permanent carries the source's country, even from a decision
// that has no event.
func TestPermanentHasCountry(t *testing.T) {
	j, k := newFakeJournal(), &fakeKernel{}
	e := newEnforcer(t, Options{Kernel: k, Journal: j, Threshold: 1, Hooks: Hooks{Country: func(a netip.Addr) string {
		switch a {
		case netip.MustParseAddr("203.0.113.66"):
			return "NL"
		case netip.MustParseAddr("2001:db8:bad:1::"):
			return "DE"
		}
		return ""
	}}})
	start(t, e)
	e.Submit(ban("203.0.113.66/32", sip.ReasonScanner))
	e.Submit(sip.Decision{Action: sip.Ban, Source: prefix("2001:db8:bad:1::/64"), Duration: time.Minute})
	eventually(t, "the permanent bans", func() bool { _, perms, _ := j.snapshot(); return len(perms) == 2 })
	_, perms, evs := j.snapshot()
	if perms[0].Country != "NL" || evs[0].Country != "NL" {
		t.Errorf("permanent ban %+v, event %+v: want NL", perms[0], evs[0])
	}
	if perms[1].Country != "DE" {
		t.Errorf("permanent ban without an event %+v: want DE", perms[1])
	}
}
