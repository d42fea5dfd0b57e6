package store

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T, l Limits) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestLists(t *testing.T) {
	s, path := open(t, Limits{})
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	if err := s.Add(Allow, Entry{Prefix: pfx("198.51.100.0/24"), Note: "carrier", Added: now, By: "admin"},
		Entry{Prefix: pfx("2001:db8:c::/48"), Added: now}); err != nil {
		t.Fatal(err)
	}
	// Invalid input writes nothing, not even the valid entries beside it.
	if err := s.Add(Allow, Entry{Prefix: pfx("192.0.2.1/32")}, Entry{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Add with an invalid entry: %v", err)
	}
	if err := s.Add("other", Entry{Prefix: pfx("192.0.2.1/32")}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Add to an unknown list: %v", err)
	}
	// The same network written differently is one entry, updated.
	if err := s.Add(Allow, Entry{Prefix: netip.PrefixFrom(netip.MustParseAddr("198.51.100.77"), 24), Note: "carrier, renamed", Added: now}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(path, Limits{}) // survives a reopen
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Entries(Allow)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Prefix != pfx("198.51.100.0/24") || got[0].Note != "carrier, renamed" || !got[0].Added.Equal(now) {
		t.Fatalf("allow list = %+v", got)
	}
	if n, err := s.Remove(Allow, pfx("198.51.100.0/24"), pfx("203.0.113.0/24")); err != nil || n != 1 {
		t.Errorf("Remove = %d, %v; want 1", n, err)
	}
	if err := s.Add(Deny, Entry{Prefix: pfx("203.0.113.0/24")}, Entry{Prefix: pfx("203.0.113.66/32")}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Clear(Deny); err != nil || n != 2 {
		t.Errorf("Clear = %d, %v", n, err)
	}
	if d, _ := s.Entries(Deny); len(d) != 0 {
		t.Errorf("deny list after Clear: %v", d)
	}
}

func TestPermanentAndHistory(t *testing.T) {
	s, _ := open(t, Limits{})
	if err := s.AddPermanent(Ban{Prefix: pfx("203.0.113.66/32"), Reason: "REGISTER brute force", Bans: 5, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Permanents()
	if err != nil || len(ps) != 1 || ps[0].Reason != "REGISTER brute force" || ps[0].Bans != 5 {
		t.Fatalf("Permanents = %+v, %v", ps, err)
	}
	if n, _ := s.RemovePermanent(pfx("203.0.113.66/32")); n != 1 {
		t.Errorf("RemovePermanent = %d", n)
	}
	for want := 1; want <= 3; want++ {
		counts, err := s.RecordBans(week, pfx("203.0.113.66/32"), pfx("2001:db8:bad:1::/64"))
		if err != nil || counts[0] != want || counts[1] != want {
			t.Fatalf("RecordBans = %v, %v; want %d each", counts, err, want)
		}
	}
	counts, err := s.BanCounts(pfx("203.0.113.66/32"), pfx("198.51.100.1/32"))
	if err != nil || counts[0] != 3 || counts[1] != 0 {
		t.Fatalf("BanCounts = %v, %v; want [3 0]", counts, err)
	}
}

func TestEventsBounded(t *testing.T) {
	s, _ := open(t, Limits{MaxEvents: 50, MaxAge: time.Hour})
	now := time.Now()
	var evs []Event
	for i := range 120 {
		evs = append(evs, Event{Time: now.Add(time.Duration(i) * time.Second), Action: "ban", Source: pfx("203.0.113.66/32"), Count: i})
	}
	old := Event{Time: now.Add(-2 * time.Hour), Action: "ban", Count: -1}
	if err := s.AppendEvents(append([]Event{old}, evs[:60]...)...); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(evs[60:]...); err != nil {
		t.Fatal(err)
	}
	got, err := s.Events(1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 || got[0].Count != 119 || got[49].Count != 70 {
		t.Fatalf("%d events kept, newest %d, oldest %d; want the newest 50", len(got), got[0].Count, got[len(got)-1].Count)
	}
}

// childEnv makes the test binary a writer that TestSurvivesKill kills.
const childEnv = "SIPGUARD_STORE_WRITER"

// TestWriter is not a test: run by TestSurvivesKill, it writes batches of
// 100 list entries and 100 events, one transaction each, until killed.
func TestWriter(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("only run by TestSurvivesKill")
	}
	s, err := Open(path, Limits{MaxEvents: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	for batch := 0; ; batch++ {
		var es []Entry
		var evs []Event
		for i := range 100 {
			n := batch*100 + i
			es = append(es, Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), 32), Note: strconv.Itoa(batch)})
			evs = append(evs, Event{Time: time.Now(), Action: "ban", Count: batch})
		}
		if err := s.Add(Deny, es...); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvents(evs...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSurvivesKill kills a writer with SIGKILL at random moments, many
// times, and checks after each that the file opens, is consistent, and
// holds only whole batches.
func TestSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a writer process 15 times")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	rng := rand.New(rand.NewPCG(7, 11))
	for round := range 15 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriter$")
		cmd.Env = append(os.Environ(), childEnv+"="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()

		s, err := Open(path, Limits{MaxEvents: 1_000_000})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("round %d: inconsistent file: %v", round, err)
		}
		entries, err := s.Entries(Deny)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		evs, err := s.Events(1 << 30)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(entries)%100 != 0 || len(evs)%100 != 0 {
			t.Fatalf("round %d: %d entries and %d events: a batch was cut in two", round, len(entries), len(evs))
		}
		s.Close()
		t.Logf("round %d: %d entries, %d events after SIGKILL", round, len(entries), len(evs))
	}
}

func TestDynamicBansOutliveAReboot(t *testing.T) {
	s, _ := open(t, Limits{})
	now := time.Now()
	if err := s.SetDynamic(Ban{Prefix: pfx("203.0.113.66/32"), Until: now.Add(10 * time.Minute)}, Ban{Prefix: pfx("203.0.113.77/32"), Until: now.Add(-time.Second)},
		Ban{Prefix: pfx("2001:db8:bad:1::/64"), Until: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDynamic(Ban{Prefix: pfx("2001:db8:bad:1::/64"), Until: now.Add(20 * time.Minute)}); err != nil { // extended
		t.Fatal(err)
	}
	ds, err := s.Dynamics(now)
	if err != nil || len(ds) != 2 || !ds[0].Until.Equal(now.Add(20*time.Minute)) || ds[1].Prefix != pfx("203.0.113.66/32") {
		t.Fatalf("Dynamics = %+v, %v", ds, err)
	}
	if err := s.RemoveDynamic(pfx("203.0.113.66/32")); err != nil {
		t.Fatal(err)
	}
	if ds, _ := s.Dynamics(now.Add(30 * time.Minute)); len(ds) != 0 {
		t.Errorf("ended bans still listed: %+v", ds)
	}
}

func TestWipe(t *testing.T) {
	s, path := open(t, Limits{})
	now := time.Now()
	if err := s.Add(Deny, Entry{Prefix: pfx("203.0.113.0/24"), Added: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.Record([]Ban{{Prefix: pfx("203.0.113.66/32"), Until: now.Add(time.Hour)}},
		[]Ban{{Prefix: pfx("198.51.100.7/32"), At: now}}, []Event{{Time: now, Source: pfx("203.0.113.66/32"), Reason: "scanner"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Wipe(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deny, _ := s.Entries(Deny)
	perm, _ := s.Permanents()
	dyn, _ := s.Dynamics(now)
	evs, _ := s.Events(10)
	if len(deny)+len(perm)+len(dyn)+len(evs) != 0 {
		t.Errorf("after a wipe: deny %v permanent %v dynamic %v events %v", deny, perm, dyn, evs)
	}
	// The store works as before.
	if err := s.Add(Allow, Entry{Prefix: pfx("192.0.2.0/24"), Added: now}); err != nil {
		t.Fatal(err)
	}
}

// A random-source flood that earns a ban per source cannot grow the ban
// history without bound: past the bound, the sources banned once, the
// longest ago first, are forgotten, and counted; repeat offenders stay.
// Records written before the last ban's time was kept still read.
func TestBanHistoryBounded(t *testing.T) {
	s, _ := open(t, Limits{MaxHistory: 100})
	repeat := pfx("203.0.113.66/32")
	if err := s.db.Update(func(tx *bolt.Tx) error { // an old record: the count alone
		return tx.Bucket(bucketHistory).Put(key(repeat), []byte{0, 0, 0, 2})
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RecordBans(week, repeat); err != nil || n[0] != 3 {
		t.Fatalf("RecordBans = %v, %v; want 3", n, err)
	}
	var last netip.Prefix
	for i := range 250 {
		last = netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 32)
		if _, err := s.RecordBans(week, last); err != nil {
			t.Fatal(err)
		}
	}
	kept := 0
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHistory).ForEach(func(k, v []byte) error { kept++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if kept > 100 || kept < 90 {
		t.Errorf("%d sources kept, bound 100", kept)
	}
	counts, err := s.BanCounts(repeat, last)
	if err != nil || counts[0] != 3 || counts[1] != 1 {
		t.Errorf("BanCounts = %v, %v; want the repeat offender's 3 and the newest source's 1", counts, err)
	}
	if n := s.HistoryEvicted(); n != uint64(251-kept) {
		t.Errorf("HistoryEvicted = %d, want %d", n, 251-kept)
	}
}

// week is the default ban decay.
const week = 168 * time.Hour

// A source's ban count drops by one for every full decay since its last
// ban: read, and when the next ban is counted; 0 never forgives.
func TestBanDecay(t *testing.T) {
	s, _ := open(t, Limits{})
	src := pfx("203.0.113.66/32")
	t0 := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	for range 4 {
		if _, err := s.recordBans(t0, week, []netip.Prefix{src}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.BanHistory(src, pfx("198.51.100.1/32"))
	if err != nil || h[0].Count != 4 || !h[0].Last.Equal(t0) || h[1] != (History{}) {
		t.Fatalf("BanHistory = %+v, %v; want 4 bans at %v, and nothing", h, err, t0)
	}
	for _, c := range []struct {
		after time.Duration
		decay time.Duration
		want  int
	}{
		{0, week, 4},
		{week - time.Second, week, 4},
		{week, week, 3},
		{2*week + time.Hour, week, 2},
		{10 * week, week, 0},
		{10 * week, 0, 4}, // never
	} {
		if got := h[0].Decayed(t0.Add(c.after), c.decay); got != c.want {
			t.Errorf("%d bans, %v later, decay %v: %d, want %d", h[0].Count, c.after, c.decay, got, c.want)
		}
	}
	// The next ban, two weeks and a bit later, counts from the forgiven 2.
	counts, err := s.recordBans(t0.Add(2*week+time.Hour), week, []netip.Prefix{src})
	if err != nil || counts[0] != 3 {
		t.Fatalf("recordBans two weeks later = %v, %v; want 3", counts, err)
	}
	// With no decay nothing is forgiven.
	if counts, err = s.recordBans(t0.Add(20*week), 0, []netip.Prefix{src}); err != nil || counts[0] != 4 {
		t.Fatalf("recordBans with no decay = %v, %v; want 4", counts, err)
	}
}

// Lifting a permanent ban takes the source's ban history and dynamic ban
// with it, logs the lift (in no count), and leaves other bans alone.
func TestLiftPermanent(t *testing.T) {
	s, _ := open(t, Limits{})
	src, other := pfx("203.0.113.66/32"), pfx("198.51.100.7/32")
	now := time.Now()
	if err := s.AddPermanent(Ban{Prefix: src, At: now, Bans: 5}, Ban{Prefix: other, At: now, Bans: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordBans(week, src, src, other); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDynamic(Ban{Prefix: src, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ev := Event{Time: now, Action: ActionUnban, Source: src, Addr: src.Addr()}
	n, err := s.LiftPermanent([]netip.Prefix{src, pfx("192.0.2.1/32")}, []Event{ev})
	if err != nil || n != 1 {
		t.Fatalf("LiftPermanent = %d, %v; want 1", n, err)
	}
	ps, _ := s.Permanents()
	if len(ps) != 1 || ps[0].Prefix != other {
		t.Errorf("permanent bans left: %+v, want %v alone", ps, other)
	}
	if c, _ := s.BanCounts(src, other); c[0] != 0 || c[1] != 1 {
		t.Errorf("ban counts %v, want [0 1]", c)
	}
	if d, _ := s.DynamicBans(now); len(d) != 0 {
		t.Errorf("dynamic bans left: %+v", d)
	}
	evs, _ := s.Events(10)
	if len(evs) != 1 || evs[0].Action != ActionUnban {
		t.Errorf("attack log %+v, want the lift", evs)
	}
	r, err := s.Report(now.Add(-time.Minute), now.Add(time.Minute), 10)
	if err != nil || r.Events != 0 || len(r.TopSources) != 0 {
		t.Errorf("report %+v, %v: a lift is no attack event", r, err)
	}
	if _, err := s.LiftPermanent([]netip.Prefix{{}}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("an invalid prefix: %v", err)
	}
}

// Permanent bans stored without a country get it when listed, once; the
// report's top sources show it.
func TestPermanentCountries(t *testing.T) {
	s, _ := open(t, Limits{})
	src, known := pfx("203.0.113.66/32"), pfx("198.51.100.7/32")
	now := time.Now()
	if err := s.AddPermanent(Ban{Prefix: src, At: now}, Ban{Prefix: known, At: now, Country: "FR"}); err != nil {
		t.Fatal(err)
	}
	asked := 0
	country := func(a netip.Addr) string {
		asked++
		if a == src.Addr() {
			return "NL"
		}
		return "XX"
	}
	ps, err := s.FillCountries(country)
	if err != nil || len(ps) != 2 || ps[0].Country != "FR" || ps[1].Country != "NL" || asked != 1 {
		t.Fatalf("FillCountries = %+v, %v (asked %d); want FR kept, NL filled, one lookup", ps, err, asked)
	}
	if ps, _ := s.Permanents(); ps[1].Country != "NL" {
		t.Errorf("the country was not stored: %+v", ps)
	}
	if _, err := s.FillCountries(country); err != nil || asked != 1 {
		t.Errorf("a second listing looked up again (%d)", asked)
	}
	if err := s.AppendEvents(Event{Time: now, Action: ActionBan, Source: src, Addr: src.Addr(), Reason: "scanner User-Agent"}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Report(now.Add(-time.Minute), now.Add(time.Minute), 10)
	if err != nil || len(r.TopSources) != 1 || r.TopSources[0].Country != "NL" {
		t.Errorf("report top sources %+v, %v; want %v from NL", r.TopSources, err, src)
	}
}

// Watch is told of the events each commit adds, and of nothing that was
// not committed.
func TestWatch(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var seen []string
	s.Watch(func(evs []Event) {
		for _, e := range evs {
			seen = append(seen, e.Action)
		}
	})
	p := netip.MustParsePrefix("198.51.100.7/32")
	if err := s.Record(nil, nil, []Event{{Time: time.Now(), Action: ActionBan, Source: p, Addr: p.Addr()}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(Event{Time: time.Now(), Action: "admin", Reason: "allow add"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LiftPermanent([]netip.Prefix{p}, []Event{{Time: time.Now(), Action: ActionUnban, Source: p, Addr: p.Addr()}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Record([]Ban{{Prefix: netip.Prefix{}}}, nil, []Event{{Action: ActionBan}}); err == nil {
		t.Fatal("a bad record was written")
	}
	if want := []string{"ban", "admin", "unban"}; !slices.Equal(seen, want) {
		t.Errorf("watched %q, want %q", seen, want)
	}
}
