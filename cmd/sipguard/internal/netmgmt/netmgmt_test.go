package netmgmt

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/beevik/ntp"
	"github.com/miekg/dns"

	"github.com/sipguard/sipguard/netfilter"
)

// fakeStepper records the steps instead of setting the clock.
type fakeStepper struct {
	mu    sync.Mutex
	steps []time.Duration
}

func (f *fakeStepper) Step(d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps = append(f.steps, d)
	return nil
}

func (f *fakeStepper) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.steps)
}

// answer is a valid NTP answer with the given offset.
func answer(offset time.Duration) *ntp.Response {
	now := time.Now()
	return &ntp.Response{ClockOffset: offset, Stratum: 2, Version: 4, Time: now, ReferenceTime: now.Add(-time.Minute),
		RootDelay: time.Millisecond, RootDispersion: time.Millisecond}
}

// fakeServers answers queries from a table: a response or an error per
// server, and counts the queries.
type fakeServers struct {
	mu      sync.Mutex
	answers map[string]*ntp.Response
	asked   []string
}

func (f *fakeServers) query(_ context.Context, server string) (*ntp.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, server)
	if r, ok := f.answers[server]; ok {
		return r, nil
	}
	return nil, errors.New("timeout")
}

func TestClockPlausible(t *testing.T) {
	build := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	now := build.Add(-time.Hour)
	c := NewClock(build, func() time.Time { return now }, nil)
	if c.Plausible() {
		t.Error("a clock before the build time is plausible")
	}
	now = build.Add(time.Hour)
	if !c.Plausible() {
		t.Error("a clock after the build time is not plausible")
	}
	boot := NewClock(time.Time{}, func() time.Time { return time.Unix(0, 0) }, nil)
	if boot.Plausible() {
		t.Error("1970 is plausible for a build of unknown date")
	}
	boot.markSynced()
	if !boot.Plausible() || !boot.Synced() {
		t.Error("a clock NTP synced is not plausible")
	}
}

func TestClockWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewClock(time.Time{}, func() time.Time { return time.Unix(0, 0) }, nil)
		done := make(chan error, 1)
		go func() { done <- c.Wait(t.Context()) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Wait returned %v before the clock was set", err)
		default:
		}
		c.markSynced()
		synctest.Wait()
		if err := <-done; err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithCancel(t.Context())
		late := NewClock(time.Time{}, func() time.Time { return time.Unix(0, 0) }, nil)
		go func() { done <- late.Wait(ctx) }()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Wait after cancel: %v", err)
		}
	})
}

func TestSyncSteps(t *testing.T) {
	for _, c := range []struct {
		name   string
		offset time.Duration
		steps  int
	}{
		{"in agreement", 20 * time.Millisecond, 0},
		{"just under the threshold", -StepThreshold, 0},
		{"an hour behind", time.Hour, 1},
		{"booted in 1970", time.Since(time.Unix(0, 0)), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := &fakeServers{answers: map[string]*ntp.Response{"192.0.2.123": answer(c.offset)}}
			step := &fakeStepper{}
			clock := NewClock(time.Time{}, func() time.Time { return time.Unix(0, 0) }, nil)
			s := &syncer{clock: clock, query: srv.query, step: step, servers: func() []string { return []string{"192.0.2.123"} }, log: discard}
			if err := s.sync(t.Context()); err != nil {
				t.Fatal(err)
			}
			if step.count() != c.steps {
				t.Errorf("steps %v, want %d", step.steps, c.steps)
			}
			st := s.status()
			if !st.Synced || st.Server != "192.0.2.123" || st.Offset != c.offset || st.Stepped != (c.steps > 0) || st.LastSync.IsZero() {
				t.Errorf("status %+v", st)
			}
			if !clock.Plausible() {
				t.Error("not plausible after a sync")
			}
		})
	}
}

func TestSyncRefusesBadAnswers(t *testing.T) {
	kiss := answer(time.Hour)
	kiss.Stratum = 0
	unsynced := answer(time.Hour)
	unsynced.Leap = ntp.LeapNotInSync
	stale := answer(time.Hour)
	stale.ReferenceTime = stale.Time.Add(-72 * time.Hour)
	srv := &fakeServers{answers: map[string]*ntp.Response{"kiss": kiss, "unsynced": unsynced, "stale": stale, "good": answer(2 * time.Second)}}
	step := &fakeStepper{}
	clock := NewClock(time.Time{}, func() time.Time { return time.Unix(0, 0) }, nil)
	servers := []string{"kiss", "unsynced", "stale", "silent"}
	s := &syncer{clock: clock, query: srv.query, step: step, servers: func() []string { return servers }, log: discard}
	err := s.sync(t.Context())
	if err == nil {
		t.Fatal("no valid answer, yet synced")
	}
	if step.count() != 0 || clock.Plausible() {
		t.Errorf("bad answers stepped the clock (%v) or made it plausible", step.steps)
	}
	if st := s.status(); st.Synced || !strings.Contains(st.LastError, "kiss") || !strings.Contains(st.LastError, "silent") {
		t.Errorf("status %+v", st)
	}
	servers = append(servers, "good")
	if err := s.sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := s.status(); !st.Synced || st.Server != "good" || st.LastError != "" || step.count() != 1 {
		t.Errorf("after a good answer: %+v, steps %v", st, step.steps)
	}
}

func TestSyncWithoutSettingTheClock(t *testing.T) {
	srv := &fakeServers{answers: map[string]*ntp.Response{"s": answer(time.Hour)}}
	clock := NewClock(time.Time{}, func() time.Time { return time.Unix(0, 0) }, nil)
	s := &syncer{clock: clock, query: srv.query, servers: func() []string { return []string{"s"} }, log: discard}
	if err := s.sync(t.Context()); err == nil || !strings.Contains(err.Error(), "set_clock") {
		t.Errorf("an hour off without setting the clock: %v", err)
	}
	if clock.Plausible() {
		t.Error("plausible, an hour off")
	}
}

func TestSyncBacksOffAndResyncs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &fakeServers{answers: map[string]*ntp.Response{}}
		clock := NewClock(time.Time{}, nil, nil)
		s := &syncer{clock: clock, query: srv.query, step: &fakeStepper{}, servers: func() []string { return []string{"s"} }, log: discard, kick: make(chan struct{}, 1)}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s.run(ctx); close(done) }()
		asked := func() int { srv.mu.Lock(); defer srv.mu.Unlock(); return len(srv.asked) }
		// Failures: 2s, 4s, 8s, … apart.
		var at []time.Duration
		start := time.Now()
		synctest.Wait()
		if asked() != 1 {
			t.Fatalf("asked %d times at start, want 1", asked())
		}
		for len(at) < 5 {
			n := asked()
			time.Sleep(time.Second)
			synctest.Wait()
			if asked() > n {
				at = append(at, time.Since(start).Round(time.Second))
			}
		}
		if want := []time.Duration{2 * time.Second, 6 * time.Second, 14 * time.Second, 30 * time.Second, 62 * time.Second}; !slices.Equal(at, want) {
			t.Errorf("retries at %v, want %v", at, want)
		}
		srv.mu.Lock()
		srv.answers["s"] = answer(0)
		srv.mu.Unlock()
		time.Sleep(65 * time.Second)
		synctest.Wait()
		if !s.status().Synced {
			t.Fatal("not synced once the server answers")
		}
		n := asked()
		time.Sleep(Resync - time.Minute)
		synctest.Wait()
		if asked() != n {
			t.Error("asked again before the hour")
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if asked() != n+1 {
			t.Errorf("asked %d times in the hour after a sync, want 1", asked()-n)
		}
		cancel()
		<-done
	})
}

func TestManagerStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu      sync.Mutex
			addrs   []Address
			showing []bool
		)
		m := New(Options{Bridge: "br0", Hostname: "sipguard", DHCP: true, NTP: []string{"pool"},
			Query: (&fakeServers{}).query, Log: discard,
			NoAddress: func(on bool) { mu.Lock(); showing = append(showing, on); mu.Unlock() },
			Addrs: func(string, []netip.Prefix) ([]Address, []netip.Addr, error) {
				mu.Lock()
				defer mu.Unlock()
				return slices.Clone(addrs), nil, nil
			}})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- m.Run(ctx) }()
		synctest.Wait()
		if st := m.Status(); st.State != StateNoAddress || st.MDNS != "" {
			t.Errorf("without an address: %+v", st)
		}
		time.Sleep(NoAddressGrace + addrCheck)
		synctest.Wait()
		mu.Lock()
		if !slices.Equal(showing, []bool{true}) {
			t.Errorf("no-address shown %v after the grace", showing)
		}
		mu.Unlock()

		m.SetLease(&netfilter.Lease{Addr: netip.MustParsePrefix("192.0.2.100/24"), NTP: []netip.Addr{netip.MustParseAddr("192.0.2.123")}})
		if got := m.servers(); !slices.Equal(got, []string{"192.0.2.123", "pool"}) {
			t.Errorf("time servers %v: the lease's first", got)
		}
		mu.Lock()
		addrs = []Address{{Prefix: netip.MustParsePrefix("192.0.2.100/24"), Source: SourceDHCP}}
		mu.Unlock()
		time.Sleep(addrCheck)
		synctest.Wait()
		st := m.Status()
		if st.State != StateOK || len(st.Addresses) != 1 || st.Lease == nil {
			t.Errorf("with a lease: %+v", st)
		}
		mu.Lock()
		if !slices.Equal(showing, []bool{true, false}) {
			t.Errorf("no-address shown %v once there is an address", showing)
		}
		mu.Unlock()
		cancel()
		<-done
	})
}

func TestManagerOff(t *testing.T) {
	m := New(Options{Bridge: "br0", Hostname: "sipguard"})
	if st := m.Status(); st.State != StateOff {
		t.Errorf("without DHCP, SLAAC or addresses: %+v", st)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Run(ctx); err != nil {
		t.Error(err)
	}
}

func TestZoneAnswersOnlyWithAddresses(t *testing.T) {
	r := &responder{iface: "none", name: "sipguard", port: 443, log: discard}
	q := dns.Question{Name: "sipguard.local.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	if rr := r.zone.Records(q); len(rr) != 0 {
		t.Errorf("answers %v without an address", rr)
	}
	// update fails on the missing interface, and answers nothing.
	if err := r.update([]netip.Addr{netip.MustParseAddr("192.0.2.100")}); err == nil {
		t.Error("mDNS on a missing interface")
	}
	if rr := r.zone.Records(q); len(rr) != 0 || r.answering() != "" {
		t.Errorf("answers %v, %q after a failed start", rr, r.answering())
	}
}

var discard = slogDiscard()

// New settings take effect without a restart: the time servers at once,
// the clock's setting from the next sync.
func TestManagerConfigure(t *testing.T) {
	srv := &fakeServers{answers: map[string]*ntp.Response{"new": answer(time.Hour)}}
	m := New(Options{Bridge: "br0", Hostname: "sipguard", DHCP: true, NTP: []string{"old"}, Query: srv.query, Log: discard})
	step := &fakeStepper{}
	m.Configure("office-box", []string{"new"}, step)
	if got := m.servers(); !slices.Equal(got, []string{"new"}) {
		t.Errorf("servers %v after Configure", got)
	}
	if err := m.ntp.sync(t.Context()); err != nil || step.count() != 1 {
		t.Errorf("sync after Configure: %v, steps %v", err, step.steps)
	}
	if m.mdns.host() != "office-box.local." {
		t.Errorf("mDNS host %q", m.mdns.host())
	}
}

func TestBuildTimeFromTheLinker(t *testing.T) {
	old := buildEpoch
	t.Cleanup(func() { buildEpoch = old })
	buildEpoch = "1796535428"
	if got := BuildTime(); !got.Equal(time.Unix(1796535428, 0)) {
		t.Errorf("BuildTime = %v", got)
	}
}

// A lease naming time servers is asked at once, not at the end of the
// back-off that its absence ran up.
func TestLeaseSyncsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &fakeServers{answers: map[string]*ntp.Response{"192.0.2.123": answer(0)}}
		m := New(Options{Bridge: "br0", DHCP: true, Query: srv.query, Log: discard,
			Addrs: func(string, []netip.Prefix) ([]Address, []netip.Addr, error) { return nil, nil, nil }})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- m.Run(ctx) }()
		time.Sleep(time.Minute) // no servers: the back-off grows to 32 s
		synctest.Wait()
		m.SetLease(&netfilter.Lease{NTP: []netip.Addr{netip.MustParseAddr("192.0.2.123")}})
		synctest.Wait()
		if st := m.Status().NTP; !st.Synced || st.Server != "192.0.2.123" {
			t.Errorf("right after the lease: %+v", st)
		}
		cancel()
		<-done
	})
}
