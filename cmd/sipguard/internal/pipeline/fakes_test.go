package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

// fakeKernel records what the pipeline asked of the kernel, and fails on
// demand.
type fakeKernel struct {
	mu      sync.Mutex
	bans    [][]netfilter.Ban // one slice per batch
	lifted  []netip.Prefix
	held    []netfilter.Ban
	applied []netfilter.Ruleset
	fail    error
}

func (k *fakeKernel) Ban(b []netfilter.Ban) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	k.bans = append(k.bans, slices.Clone(b))
	return nil
}

func (k *fakeKernel) Hold(h []netfilter.Ban) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	k.held = append(k.held, h...)
	return nil
}

func (k *fakeKernel) holds() []netfilter.Ban {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.held)
}

func (k *fakeKernel) Unban(a []netip.Prefix) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	k.lifted = append(k.lifted, a...)
	return nil
}

// inForce returns the addresses banned and not lifted.
func (k *fakeKernel) inForce() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for _, a := range k.banned() {
		out[a] = true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.lifted {
		delete(out, p.Addr())
	}
	return out
}

func (k *fakeKernel) Apply(r netfilter.Ruleset) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	r.Permanent = slices.Clone(r.Permanent)
	k.applied = append(k.applied, r)
	return nil
}

func (k *fakeKernel) setFail(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fail = err
}

func (k *fakeKernel) batches() [][]netfilter.Ban {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.bans)
}

// banned returns every address banned so far, in order.
func (k *fakeKernel) banned() []netip.Addr {
	var out []netip.Addr
	for _, b := range k.batches() {
		for _, x := range b {
			out = append(out, x.Addr)
		}
	}
	return out
}

// lastRules returns the last ruleset applied, and whether there was one.
func (k *fakeKernel) lastRules() (netfilter.Ruleset, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.applied) == 0 {
		return netfilter.Ruleset{}, false
	}
	return k.applied[len(k.applied)-1], true
}

// fakeJournal is a state file in memory.
type fakeJournal struct {
	mu        sync.Mutex
	history   map[netip.Prefix]store.History
	dynamic   []store.Ban
	permanent []store.Ban
	events    []store.Event
	fail      error
}

func newFakeJournal() *fakeJournal { return &fakeJournal{history: map[netip.Prefix]store.History{}} }

func (j *fakeJournal) BanHistory(sources ...netip.Prefix) ([]store.History, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]store.History, len(sources))
	for i, p := range sources {
		out[i] = j.history[p]
	}
	return out, nil
}

// BanCounts returns the sources' counts as kept, before any forgiveness.
func (j *fakeJournal) BanCounts(sources ...netip.Prefix) ([]int, error) {
	h, _ := j.BanHistory(sources...)
	out := make([]int, len(h))
	for i := range h {
		out[i] = h[i].Count
	}
	return out, nil
}

func (j *fakeJournal) RecordBans(decay time.Duration, sources ...netip.Prefix) ([]int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return nil, j.fail
	}
	now := time.Now()
	out := make([]int, len(sources))
	for i, p := range sources {
		n := j.history[p].Decayed(now, decay) + 1
		j.history[p] = store.History{Count: n, Last: now}
		out[i] = n
	}
	return out, nil
}

func (j *fakeJournal) LiftPermanent(sources []netip.Prefix, evs []store.Event) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return 0, j.fail
	}
	n := 0
	for _, p := range sources {
		if slices.ContainsFunc(j.permanent, func(b store.Ban) bool { return b.Prefix == p }) {
			n++
		}
		j.permanent = slices.DeleteFunc(j.permanent, func(b store.Ban) bool { return b.Prefix == p })
		delete(j.history, p)
	}
	j.events = append(j.events, evs...)
	return n, nil
}

func (j *fakeJournal) Record(dyn []store.Ban, perms []store.Ban, evs []store.Event) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	j.dynamic = append(j.dynamic, dyn...)
	j.permanent = append(j.permanent, perms...)
	j.events = append(j.events, evs...)
	return nil
}

func (j *fakeJournal) RemoveDynamic(sources ...netip.Prefix) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	j.dynamic = slices.DeleteFunc(j.dynamic, func(b store.Ban) bool { return slices.Contains(sources, b.Prefix) })
	return nil
}

func (j *fakeJournal) snapshot() (dyn []store.Ban, perms []store.Ban, evs []store.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.dynamic), slices.Clone(j.permanent), slices.Clone(j.events)
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// start runs e until the test ends; stop stops it and waits.
func start(t *testing.T, e *Enforcer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// startChain runs an enforcer with o until the test ends, and returns a
// detection engine with rules that hands it its decisions.
func startChain(t *testing.T, o Options, rules sip.Rules) *sip.Engine {
	t.Helper()
	e := newEnforcer(t, o)
	engine, err := sip.NewEngine(rules, 1024, e.Submit)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	return engine
}

func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// ban is a decision as the engine makes it.
func ban(src string, reason sip.Reason) sip.Decision {
	p := prefix(src)
	return sip.Decision{Action: sip.Ban, Source: p, Duration: 10 * time.Minute,
		Event: &sip.Event{Time: time.Now(), Action: sip.Ban, Source: p, Addr: p.Addr(), Reason: reason, UserAgent: "friendly-scanner"}}
}

// frames builds UDP frames between an internet source and the PBX, as a
// capture reads them.
type frames struct {
	remote, pbx netip.Addr
}

func (f frames) udp(fromRemote bool, payload string) []byte {
	src, dst := f.remote, f.pbx
	if !fromRemote {
		src, dst = f.pbx, f.remote
	}
	l4 := binary.BigEndian.AppendUint16(nil, 5060)
	l4 = binary.BigEndian.AppendUint16(l4, 5060)
	l4 = binary.BigEndian.AppendUint16(l4, uint16(8+len(payload)))
	l4 = append(append(l4, 0, 0), payload...)
	b := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	ip = append(append(ip, src.AsSlice()...), dst.AsSlice()...)
	return append(append(b, ip...), l4...)
}

// register returns a REGISTER with credentials and the PBX's answer.
func (f frames) register(seq, status int) (req, resp []byte) {
	common := fmt.Sprintf("Via: SIP/2.0/UDP %v:5060;branch=z9hG4bK%d\r\nFrom: <sip:1001@pbx>;tag=f%d\r\nTo: <sip:1001@pbx>\r\nCall-ID: call-%d\r\nCSeq: %d REGISTER\r\n",
		f.remote, seq, seq, seq, seq)
	req = f.udp(true, "REGISTER sip:pbx SIP/2.0\r\n"+common+"User-Agent: Yealink SIP-T46S\r\n"+
		"Authorization: Digest username=\"1001\", realm=\"pbx\", response=\"x\"\r\nContent-Length: 0\r\n\r\n")
	resp = f.udp(false, fmt.Sprintf("SIP/2.0 %d Reason\r\n%sContent-Length: 0\r\n\r\n", status, common))
	return req, resp
}

// fakeCapture delivers its frames from one worker, all with the same
// backlog, then returns.
type fakeCapture struct {
	frames  [][]byte
	backlog sip.Backlog
	mu      sync.Mutex
	stats   sip.CaptureStats
}

func (c *fakeCapture) Workers() int { return 1 }

func (c *fakeCapture) Run(ctx context.Context, fn func(int, []byte, sip.Backlog)) error {
	for _, f := range c.frames {
		if ctx.Err() != nil {
			return nil
		}
		fn(0, f, c.backlog)
	}
	return nil
}

func (c *fakeCapture) Stats() (sip.CaptureStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	c.stats = sip.CaptureStats{}
	return st, nil
}
