package crowdsec

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter"
)

// clock is a time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestBouncer(t *testing.T, f *fakeLAPI, k *fakeKernel, c *clock) *Bouncer {
	t.Helper()
	s := Settings{Mode: ModeBouncer, URL: f.URL + "/", BouncerKey: testKey}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := NewBouncer(s, BouncerOptions{Kernel: k, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// prefixes returns the networks of bans, sorted.
func prefixes(bans []netfilter.Ban) []string {
	var out []string
	for _, b := range bans {
		out = append(out, netip.PrefixFrom(b.Addr, b.Bits).String())
	}
	slices.Sort(out)
	return out
}

func timeoutOf(bans []netfilter.Ban, p string) time.Duration {
	for _, b := range bans {
		if netip.PrefixFrom(b.Addr, b.Bits).String() == p {
			return b.Timeout
		}
	}
	return 0
}

// The first read takes the whole stream: ban decisions of Ip and Range
// scope, IPv4 and IPv6, with their durations; the rest is ignored. Later
// reads add and withdraw decisions.
func TestBouncerStream(t *testing.T) {
	f, k, c := newFakeLAPI(t), &fakeKernel{}, &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	f.queue(`{"new":[
		{"id":1,"origin":"cscli","type":"ban","scope":"Ip","value":"203.0.113.77","duration":"3h59m58.123s","scenario":"manual"},
		{"id":2,"origin":"crowdsec","type":"ban","scope":"Range","value":"198.51.100.0/24","duration":"30m","scenario":"x"},
		{"id":3,"origin":"crowdsec","type":"ban","scope":"Ip","value":"2001:db8::66","duration":"1h","scenario":"x"},
		{"id":4,"origin":"crowdsec","type":"ban","scope":"range","value":"2001:db8:bad::/48","duration":"2h","scenario":"x"},
		{"id":5,"origin":"crowdsec","type":"captcha","scope":"Ip","value":"203.0.113.1","duration":"1h","scenario":"x"},
		{"id":6,"origin":"crowdsec","type":"ban","scope":"Country","value":"ZZ","duration":"1h","scenario":"x"},
		{"id":7,"origin":"crowdsec","type":"ban","scope":"Ip","value":"not-an-address","duration":"1h","scenario":"x"},
		{"id":8,"origin":"crowdsec","type":"ban","scope":"Ip","value":"203.0.113.8","duration":"-3s","scenario":"x"},
		{"id":9,"origin":"crowdsec","type":"ban","scope":"Ip","value":"203.0.113.9","duration":"1h","scenario":"x","simulated":true}
	],"deleted":null}`,
		`{"new":[{"id":10,"origin":"crowdsec","type":"ban","scope":"Ip","value":"192.0.2.200","duration":"10m","scenario":"x"}],
		  "deleted":[{"id":2,"origin":"crowdsec","type":"ban","scope":"Range","value":"198.51.100.0/24","duration":"-1s","scenario":"x"}]}`)
	b := newTestBouncer(t, f, k, c)
	ctx := context.Background()
	if err := b.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	bans, _ := k.state()
	want := []string{"198.51.100.0/24", "2001:db8::66/128", "2001:db8:bad::/48", "203.0.113.77/32"}
	if got := prefixes(bans); !slices.Equal(got, want) {
		t.Errorf("loaded %v, want %v", got, want)
	}
	if got, want := timeoutOf(bans, "203.0.113.77/32"), 3*time.Hour+59*time.Minute+58123*time.Millisecond; got != want {
		t.Errorf("timeout of 203.0.113.77 = %v, want %v", got, want)
	}
	st := b.Status()
	if st.State != StateOK || st.Decisions != 4 || st.Ignored != 5 || st.V4 != 2 || st.V6 != 2 {
		t.Errorf("status = %+v", st)
	}
	c.add(time.Minute)
	if err := b.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	bans, _ = k.state()
	want = []string{"192.0.2.200/32", "2001:db8::66/128", "2001:db8:bad::/48", "203.0.113.77/32"}
	if got := prefixes(bans); !slices.Equal(got, want) {
		t.Errorf("after the second read: %v, want %v", got, want)
	}
	if got, want := timeoutOf(bans, "2001:db8::66/128"), 59*time.Minute; got != want {
		t.Errorf("a decision's time left a minute later = %v, want %v", got, want)
	}
	if !slices.Equal(f.startups, []bool{true, false}) {
		t.Errorf("startup parameters %v, want the whole stream then the changes", f.startups)
	}
	if !b.Covers(netip.MustParseAddr("2001:db8:bad::1")) || b.Covers(netip.MustParseAddr("198.51.100.1")) {
		t.Error("Covers does not follow the decisions in force")
	}
}

// A decision that ended leaves the memory, and the next change loads the
// kernel without it (the kernel ended it on its own meanwhile).
func TestBouncerExpiry(t *testing.T) {
	f, k, c := newFakeLAPI(t), &fakeKernel{}, &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	f.queue(`{"new":[{"id":1,"type":"ban","scope":"Ip","value":"203.0.113.1","duration":"30s"},
		{"id":2,"type":"ban","scope":"Ip","value":"203.0.113.2","duration":"1h"}]}`, `{}`,
		`{"new":[{"id":3,"type":"ban","scope":"Ip","value":"203.0.113.3","duration":"1h"}]}`)
	b := newTestBouncer(t, f, k, c)
	ctx := context.Background()
	if err := b.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	c.add(time.Minute)
	if err := b.Poll(ctx); err != nil { // nothing new: no load
		t.Fatal(err)
	}
	if _, loads := k.state(); loads != 1 {
		t.Errorf("%d loads; a read with nothing new must not load the kernel", loads)
	}
	if st := b.Status(); st.Decisions != 1 {
		t.Errorf("decisions in force after the 30s one ended: %d, want 1", st.Decisions)
	}
	if b.Covers(netip.MustParseAddr("203.0.113.1")) {
		t.Error("an ended decision still covers its source")
	}
	if err := b.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	bans, _ := k.state()
	if got, want := prefixes(bans), []string{"203.0.113.2/32", "203.0.113.3/32"}; !slices.Equal(got, want) {
		t.Errorf("loaded %v, want %v", got, want)
	}
}

// A reply that is not the stream's JSON changes nothing, and the next
// read takes the whole stream again.
func TestBouncerBadReply(t *testing.T) {
	f, k, c := newFakeLAPI(t), &fakeKernel{}, &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	f.queue(`{"new":[{"id":1,"type":"ban","scope":"Ip","value":"203.0.113.1","duration":"1h"}]}`,
		`{"new":[{"id":2,"type":"ban","scope":"Ip","value":"203.0.113.2"`, // cut short
		`{"new":"everything"}`,
		`{"new":[{"id":1,"type":"ban","scope":"Ip","value":"203.0.113.1","duration":"1h"},{"id":3,"type":"ban","scope":"Ip","value":"203.0.113.3","duration":"1h"}]}`)
	b := newTestBouncer(t, f, k, c)
	ctx := context.Background()
	if err := b.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		err := b.Poll(ctx)
		if err == nil || !strings.Contains(err.Error(), "bad reply") {
			t.Errorf("a bad reply: err = %v", err)
		}
		if bans, loads := k.state(); loads != 1 || !slices.Equal(prefixes(bans), []string{"203.0.113.1/32"}) {
			t.Errorf("a bad reply changed the kernel: %d loads, %v", loads, prefixes(bans))
		}
		if st := b.Status(); st.State != StateDown || st.Decisions != 1 || st.LastError == "" {
			t.Errorf("status after a bad reply = %+v", st)
		}
	}
	if err := b.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.startups, []bool{true, false, true, true}) {
		t.Errorf("startup parameters %v: after a failure the whole stream is read again", f.startups)
	}
	if bans, _ := k.state(); !slices.Equal(prefixes(bans), []string{"203.0.113.1/32", "203.0.113.3/32"}) {
		t.Errorf("loaded %v", prefixes(bans))
	}
}

// While the LAPI is down the decisions stay, the retries back off from 1s
// to 5m, and the state says so; once back, the poll interval resumes.
func TestBouncerBackoff(t *testing.T) {
	f, k, c := newFakeLAPI(t), &fakeKernel{}, &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	f.queue(`{"new":[{"id":1,"type":"ban","scope":"Ip","value":"203.0.113.1","duration":"24h"}]}`)
	b := newTestBouncer(t, f, k, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waits []time.Duration
	b.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		switch len(waits) {
		case 1:
			f.setDown(true)
		case 12:
			if st := b.Status(); st.State != StateDown || st.Failures != 11 || st.Decisions != 1 || st.NextTry.IsZero() {
				t.Errorf("status while down = %+v", st)
			}
			// Back, the LAPI streams what is in force from the start.
			f.queue(`{"new":[{"id":1,"type":"ban","scope":"Ip","value":"203.0.113.1","duration":"23h"}]}`)
			f.setDown(false)
		case 14:
			cancel()
			return ctx.Err()
		}
		c.add(d)
		return nil
	}
	if err := b.Run(ctx); err != nil {
		t.Fatal(err)
	}
	s, m := time.Second, time.Minute
	want := []time.Duration{DefaultPoll, s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 256 * s, 5 * m, 5 * m, DefaultPoll, DefaultPoll}
	if !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	if bans, _ := k.state(); !slices.Equal(prefixes(bans), []string{"203.0.113.1/32"}) {
		t.Errorf("after the outage: %v", prefixes(bans))
	}
	if st := b.Status(); st.State != StateOK || st.Failures != 0 {
		t.Errorf("status after the outage = %+v", st)
	}
}

// A refused key is reported as such.
func TestBouncerRefusedKey(t *testing.T) {
	f, k, c := newFakeLAPI(t), &fakeKernel{}, &clock{t: time.Now()}
	f.reject = true
	b := newTestBouncer(t, f, k, c)
	if err := b.Poll(context.Background()); !errors.Is(err, errAuth) {
		t.Errorf("err = %v, want the credentials refused", err)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 1000: 5 * time.Minute} {
		if got := backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		s    Settings
		want string // "" valid
	}{
		{Settings{Mode: ModeOff}, ""},
		{Settings{}, ""},
		{Settings{Mode: "on"}, `mode: "on" is not off, bouncer, agent or both`},
		{Settings{Mode: ModeBouncer, URL: "http://192.0.2.50:8080/", BouncerKey: "k"}, ""},
		{Settings{Mode: ModeBouncer, URL: "http://192.0.2.50:8080/"}, "bouncer_key: mode bouncer needs a bouncer key"},
		{Settings{Mode: ModeAgent, URL: "http://192.0.2.50:8080/", MachineID: "a"}, "machine_id: mode agent needs machine_id and machine_password"},
		{Settings{Mode: ModeBoth, BouncerKey: "k", MachineID: "a", MachinePassword: "p"}, "url: mode both needs the local API's URL"},
		{Settings{Mode: ModeBouncer, URL: "ftp://x", BouncerKey: "k"}, `url: "ftp://x" is not an http:// or https:// URL`},
		{Settings{Mode: ModeOff, Poll: time.Millisecond}, "poll: 1ms is outside 1s–1h"},
	} {
		err := tc.s.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.s, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: err = %v, want %q", tc.s, err, tc.want)
		}
	}
}
