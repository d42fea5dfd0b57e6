package pipeline

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sipguard/sipguard/sip"
)

// TestInspectToKernel feeds the frames of a brute force through Inspect,
// as the two ports' captures read them, and checks that the kernel gets
// the ban after the limit and not before.
func TestInspectToKernel(t *testing.T) {
	k := &fakeKernel{}
	rules := sip.DefaultRules()
	engine := startChain(t, Options{Kernel: k}, rules)
	f := frames{remote: netip.MustParseAddr("203.0.113.66"), pbx: netip.MustParseAddr("192.0.2.10")}
	var st InspectStats
	ctx := context.Background()
	attempt := func(seq int) {
		req, resp := f.register(seq, 401) // credentials sent, challenged again: a wrong password
		if err := Inspect(ctx, &fakeCapture{frames: [][]byte{req, []byte("garbage")}}, sip.FromWAN, engine, &st); err != nil {
			t.Fatal(err)
		}
		if err := Inspect(ctx, &fakeCapture{frames: [][]byte{resp}}, sip.FromLAN, engine, &st); err != nil {
			t.Fatal(err)
		}
	}
	// A source that never authenticated: banned when its failures
	// overflow the slow-guessing bucket (GuessLimit), not before.
	for seq := 1; seq <= rules.GuessLimit; seq++ {
		attempt(seq)
	}
	time.Sleep(20 * time.Millisecond)
	if got := k.banned(); len(got) != 0 {
		t.Fatalf("banned at the limit: %v", got)
	}
	attempt(rules.GuessLimit + 1)
	eventually(t, "the ban", func() bool { return len(k.banned()) == 1 })
	if got := k.banned()[0]; got != f.remote {
		t.Errorf("banned %v, want %v", got, f.remote)
	}
	n := uint64(rules.GuessLimit + 1)
	if m := st.Map(); m["frames"] != 3*n || m["undecodable"] != n || m["unparsable"] != 0 {
		t.Errorf("stats %v", m)
	}
}

func TestWatchDropsCounts(t *testing.T) {
	var st InspectStats
	c := &fakeCapture{stats: sip.CaptureStats{Drops: 42, Truncated: 2}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- WatchDrops(ctx, slog.New(slog.DiscardHandler), c, "wan", time.Millisecond, &st, nil) }()
	eventually(t, "the drops", func() bool { return st.SocketDrops.Load() == 42 })
	if m := st.Map(); m["truncated_frames"] != 2 {
		t.Errorf("stats %v", m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestInspectSheds: behind past the threshold, requests over UDP are
// skipped unparsed unless Suspect names their source; responses are always
// read.
func TestInspectSheds(t *testing.T) {
	engine, err := sip.NewEngine(sip.DefaultRules(), 1024, func(sip.Decision) {})
	if err != nil {
		t.Fatal(err)
	}
	f := frames{remote: netip.MustParseAddr("203.0.113.66"), pbx: netip.MustParseAddr("192.0.2.10")}
	req, resp := f.register(1, 401)
	suspect := func(a netip.Addr) bool { return a == f.remote }
	innocent := func(netip.Addr) bool { return false }
	for _, c := range []struct {
		backlog sip.Backlog
		suspect func(netip.Addr) bool
		shed    uint64
	}{
		{0, nil, 0},
		{ShedNew + 1, nil, 0},
		{ShedAll, nil, 0},
		{ShedAll + 1, nil, 1},
		{ShedNew, innocent, 0},
		{ShedNew + 1, innocent, 1},
		{ShedNew + 1, suspect, 0},
		{100, suspect, 0},
	} {
		var st InspectStats
		fc := &fakeCapture{frames: [][]byte{req, resp}, backlog: c.backlog}
		if err := InspectWith(context.Background(), fc, sip.FromWAN, engine, &st, InspectOptions{Suspect: c.suspect}); err != nil {
			t.Fatal(err)
		}
		if m := st.Map(); m["shed_requests"] != c.shed || m["frames"] != 2 || m["unparsable"] != 0 {
			t.Errorf("backlog %d, suspect %v: stats %v, want %d shed", c.backlog, c.suspect != nil, m, c.shed)
		}
	}
}

// workersCapture calls fn from several goroutines at once, each worker
// delivering all the frames.
type workersCapture struct {
	workers int
	frames  [][]byte
}

func (c *workersCapture) Workers() int                     { return c.workers }
func (c *workersCapture) Stats() (sip.CaptureStats, error) { return sip.CaptureStats{}, nil }

func (c *workersCapture) Run(ctx context.Context, fn func(int, []byte, sip.Backlog)) error {
	var wg sync.WaitGroup
	for w := range c.workers {
		wg.Go(func() {
			for range 100 {
				for _, f := range c.frames {
					fn(w, f, 0)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// TestInspectWorkers: workers run side by side, each with its own decoder
// state (the race detector watches), and every frame is counted.
func TestInspectWorkers(t *testing.T) {
	engine, err := sip.NewEngine(sip.DefaultRules(), 1024, func(sip.Decision) {})
	if err != nil {
		t.Fatal(err)
	}
	f := frames{remote: netip.MustParseAddr("203.0.113.66"), pbx: netip.MustParseAddr("192.0.2.10")}
	req, _ := f.register(1, 401)
	var st InspectStats
	c := &workersCapture{workers: 3, frames: [][]byte{req, []byte("garbage")}}
	if err := Inspect(context.Background(), c, sip.FromWAN, engine, &st); err != nil {
		t.Fatal(err)
	}
	if m := st.Map(); m["frames"] != 600 || m["undecodable"] != 300 {
		t.Errorf("stats %v", m)
	}
}

// scriptedLoss is a capture whose losses, period after period, follow a
// script, then stop.
type scriptedLoss struct {
	fakeCapture
	mu     sync.Mutex
	script []uint64
}

func (c *scriptedLoss) Stats() (sip.CaptureStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n uint64
	if len(c.script) > 0 {
		n, c.script = c.script[0], c.script[1:]
	}
	return sip.CaptureStats{Drops: n}, nil
}

func TestWatchDropsSustainedLossIsAFault(t *testing.T) {
	var st InspectStats
	c := &scriptedLoss{script: []uint64{5, 0, 5, 5, 5, 5, 0}}
	var mu sync.Mutex
	var told []bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- WatchDrops(ctx, slog.New(slog.DiscardHandler), c, "wan", time.Millisecond, &st, func(on bool) {
			mu.Lock()
			told = append(told, on)
			mu.Unlock()
		})
	}()
	eventually(t, "the script", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.script) == 0 })
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// A lone loss is no fault; three periods in a row are; a period
	// without loss clears it (false is repeated while nothing is lost).
	on := slices.Index(told, true)
	if on < 0 || slices.Contains(told[on+1:len(told)-1], true) || told[len(told)-1] {
		t.Errorf("told %v: want false until the third lossy period in a row, then true once, then false", told)
	}
}
