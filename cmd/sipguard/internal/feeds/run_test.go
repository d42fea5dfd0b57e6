package feeds

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	m := &Manager{opts: Options{RetryMin: time.Minute, Jitter: -1, APIBANMoreDelay: 3 * time.Minute}.withDefaults()}
	h := time.Hour
	for _, tt := range []struct {
		fails int
		more  bool
		want  time.Duration
	}{
		{0, false, h}, {0, true, 3 * time.Minute}, {1, false, time.Minute}, {2, false, 2 * time.Minute},
		{4, false, 8 * time.Minute}, {7, false, h}, {1000, false, h}, {1, true, time.Minute},
	} {
		if got := m.delay(h, tt.fails, tt.more); got != tt.want {
			t.Errorf("delay(%d failures, more %v) = %v, want %v", tt.fails, tt.more, got, tt.want)
		}
	}
	for r, want := range map[float64]time.Duration{0: 54 * time.Minute, 0.5: h, 0.75: 63 * time.Minute} {
		m.opts.Jitter, m.opts.Rand = 0.1, func() float64 { return r }
		if got := m.delay(h, 0, false); got != want {
			t.Errorf("jitter at %v: %v, want %v", r, got, want)
		}
	}
}

func TestRunBackoff(t *testing.T) {
	s := newFeedServer(t, goodFeed)
	s.set(func(s *feedServer) { s.status = 503 })
	opts := testOptions()
	opts.RetryMin = 20 * time.Millisecond
	f := textFeed("test", s.URL)
	f.Interval = time.Hour
	m := newManager(t, opts, f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx, nil); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.requests()) < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	reqs := s.requests()
	if len(reqs) < 5 {
		t.Fatalf("%d requests", len(reqs))
	}
	st := status(t, m, "test")
	if st.Failures < 4 || st.LastError == "" {
		t.Errorf("status %+v", st)
	}
	times := recvTimes(s)
	for i, want := range []time.Duration{20, 40, 80, 160} {
		want *= time.Millisecond
		if gap := times[i+1].Sub(times[i]); gap < want*9/10 || gap > want*4 {
			t.Errorf("retry %d after %v, want about %v", i+1, gap, want)
		}
	}
}

// recvTimes are when the server saw each request (recorded by a wrapper
// around its handler).
func recvTimes(s *feedServer) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at
}

func TestRunNotifies(t *testing.T) {
	s := newFeedServer(t, goodFeed)
	s.set(func(s *feedServer) { s.etag = `"1"` })
	f := textFeed("test", s.URL)
	f.Interval = 20 * time.Millisecond
	disabled := textFeed("off", s.URL+"/off")
	disabled.Enabled = false
	m := newManager(t, testOptions(), f, disabled)
	changes := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(ctx, func() { changes <- struct{}{} }) })
	defer func() { cancel(); wg.Wait() }()

	wait := func(what string) {
		t.Helper()
		select {
		case <-changes:
		case <-time.After(5 * time.Second):
			t.Fatalf("no change notified: %s", what)
		}
	}
	wait("first load")
	// Unchanged (304) refreshes notify nothing.
	n := len(s.requests())
	for len(s.requests()) < n+3 {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-changes:
		t.Fatal("notified without a change")
	default:
	}
	s.set(func(s *feedServer) { s.body, s.etag = "192.0.2.99\n", `"2"` })
	wait("new content")
	if got := all(m); len(got) != 1 || got[0] != "192.0.2.99/32" {
		t.Errorf("All %q", got)
	}
	for _, r := range s.requests() {
		if r.URL.Path == "/off" {
			t.Error("disabled feed refreshed")
		}
	}
	if st := status(t, m, "test"); st.NextRefresh.IsZero() {
		t.Error("no next refresh in status")
	}

	// A feed enabled while Run runs is refreshed at once.
	disabled.Enabled = true
	disabled.Interval = time.Hour
	if err := m.SetFeeds([]Feed{f, disabled}); err != nil {
		t.Fatal(err)
	}
	wait("enabled feed")
}
