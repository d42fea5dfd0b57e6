package pipeline

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/sipguard/sipguard/sip"
)

// TestInspectToKernel feeds the frames of a brute force through Inspect,
// as the two ports' captures read them, and checks that the kernel gets
// the ban after the limit and not before.
func TestInspectToKernel(t *testing.T) {
	k := &fakeKernel{}
	e := newEnforcer(t, Options{Kernel: k})
	rules := sip.DefaultRules()
	engine, err := sip.NewEngine(rules, 1024, e.Submit)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
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
	for seq := 1; seq <= rules.RegisterLimit; seq++ {
		attempt(seq)
	}
	time.Sleep(20 * time.Millisecond)
	if got := k.banned(); len(got) != 0 {
		t.Fatalf("banned at the limit: %v", got)
	}
	attempt(rules.RegisterLimit + 1)
	eventually(t, "the ban", func() bool { return len(k.banned()) == 1 })
	if got := k.banned()[0]; got != f.remote {
		t.Errorf("banned %v, want %v", got, f.remote)
	}
	n := uint64(rules.RegisterLimit + 1)
	if m := st.Map(); m["frames"] != 3*n || m["undecodable"] != n || m["unparsable"] != 0 {
		t.Errorf("stats %v", m)
	}
}

func TestWatchDropsCounts(t *testing.T) {
	var st InspectStats
	c := &fakeCapture{stats: sip.CaptureStats{Drops: 42, Freezes: 3, Truncated: 2}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- WatchDrops(ctx, slog.New(slog.DiscardHandler), c, "wan", time.Millisecond, &st) }()
	eventually(t, "the drops", func() bool { return st.SocketDrops.Load() == 42 })
	if m := st.Map(); m["ring_freezes"] != 3 || m["truncated_frames"] != 2 {
		t.Errorf("stats %v", m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
