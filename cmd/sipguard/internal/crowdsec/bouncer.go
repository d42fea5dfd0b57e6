package crowdsec

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/sipguard/sipguard/netfilter"
)

// Kernel is the kernel's crowdsec set: SetCrowdSec makes it hold exactly
// the bans given (netfilter.Firewall).
type Kernel interface {
	SetCrowdSec([]netfilter.Ban) (v4, v6 int, err error)
}

// Back-off bounds after a failure.
const (
	minBackoff = time.Second
	maxBackoff = 5 * time.Minute
)

// backoff returns the wait after n failures in a row: 1s, 2s, 4s… up to 5m.
func backoff(n int) time.Duration {
	d := minBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// States of the Bouncer and the Agent.
const (
	StateStarting = "starting" // nothing tried yet
	StateOK       = "ok"       // the last exchange with the LAPI worked
	StateDown     = "down"     // the last one failed: retrying with back-off
)

// BouncerStatus is what the Bouncer reports.
type BouncerStatus struct {
	// Link is the exchange with the LAPI; its last success is the last
	// stream read and loaded.
	Link
	// Decisions are the ban decisions held, in force until they end;
	// V4 and V6 the networks they make in the kernel.
	Decisions int `json:"decisions"`
	V4        int `json:"ipv4"`
	V6        int `json:"ipv6"`
	// Added and Deleted count the decisions taken and withdrawn;
	// Ignored those not enforced (another type than ban, a scope other
	// than Ip and Range, simulated, unreadable).
	Added   uint64 `json:"added"`
	Deleted uint64 `json:"deleted"`
	Ignored uint64 `json:"ignored"`
}

// held is a ban decision kept in memory.
type held struct {
	prefix  netip.Prefix
	expires time.Time
}

// BouncerOptions are what a Bouncer needs beyond its settings.
type BouncerOptions struct {
	Log     *slog.Logger
	Kernel  Kernel
	Version string           // sent in the User-Agent
	Now     func() time.Time // nil: time.Now
}

// NewBouncer returns a Bouncer for s, which must be valid.
func NewBouncer(s Settings, o BouncerOptions) (*Bouncer, error) {
	c, err := newClient(s.URL, o.Version)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Bouncer{c: c, key: s.BouncerKey, poll: s.poll(), o: o, held: map[string]held{},
		st: BouncerStatus{Link: Link{State: StateStarting}}, sleep: sleepCtx}, nil
}

// Bouncer pulls the LAPI's decisions into the kernel.
type Bouncer struct {
	c     *client
	key   string
	poll  time.Duration
	o     BouncerOptions
	sleep func(context.Context, time.Duration) error

	mu      sync.Mutex
	held    map[string]held // by decision
	st      BouncerStatus
	synced  bool // the last stream read was loaded whole: the next is incremental
	pending bool // held changed and is not in the kernel yet
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run pulls decisions until ctx ends.
func (b *Bouncer) Run(ctx context.Context) error {
	for {
		wait := b.poll
		if err := b.Poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			b.mu.Lock()
			wait = backoff(b.st.Failures)
			b.st.NextTry = b.o.Now().Add(wait)
			n := b.st.Failures
			b.mu.Unlock()
			if n == 1 || n%10 == 0 {
				b.o.Log.Warn("crowdsec: decisions not pulled; those in force stay until they end", "err", err, "failures", n, "retry in", wait)
			}
		}
		if err := b.sleep(ctx, wait); err != nil {
			return nil
		}
	}
}

// Poll reads the stream once (the whole of it, after a start or a
// failure) and loads what changed into the kernel. A reply that cannot be
// read changes nothing, and the next Poll reads the whole stream again.
// Polls run one at a time: Run's, or a caller's without Run.
func (b *Bouncer) Poll(ctx context.Context) error {
	b.mu.Lock()
	startup := !b.synced
	b.mu.Unlock()
	s, err := b.c.stream(ctx, b.key, startup)
	if err != nil {
		b.failed(err)
		return err
	}
	b.mu.Lock()
	now := b.o.Now()
	if startup {
		clear(b.held)
		b.pending = true
	}
	for _, d := range s.Deleted {
		if _, ok := b.held[d.key()]; ok {
			delete(b.held, d.key())
			b.st.Deleted++
			b.pending = true
		}
	}
	for _, d := range s.New {
		h, ok := d.ban(now)
		if !ok {
			b.st.Ignored++
			continue
		}
		b.held[d.key()] = h
		b.st.Added++
		b.pending = true
	}
	b.synced = true
	bans, changed := b.inForceLocked(now)
	b.mu.Unlock()
	// Only Run polls: nothing changes held while the kernel loads.
	var v4, v6 int
	if changed {
		if v4, v6, err = b.o.Kernel.SetCrowdSec(bans); err != nil {
			err = fmt.Errorf("load crowdsec decisions: %w", err)
			b.failed(err)
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if changed {
		if v4 != b.st.V4 || v6 != b.st.V6 {
			b.o.Log.Info("crowdsec decisions loaded", "decisions", len(bans), "ipv4", v4, "ipv6", v6)
		}
		b.pending, b.st.V4, b.st.V6 = false, v4, v6
	}
	if b.st.State == StateDown {
		b.o.Log.Info("crowdsec: decisions pulled again", "after failures", b.st.Failures)
	}
	b.st.succeeded(now)
	return nil
}

// inForceLocked drops the decisions that ended and returns the rest as
// bans from now, and whether the kernel needs them.
func (b *Bouncer) inForceLocked(now time.Time) ([]netfilter.Ban, bool) {
	var bans []netfilter.Ban
	for k, h := range b.held {
		left := h.expires.Sub(now)
		if left < time.Second {
			delete(b.held, k) // ends in the kernel on its own
			continue
		}
		bans = append(bans, netfilter.Ban{Addr: h.prefix.Addr(), Bits: h.prefix.Bits(), Timeout: min(left, netfilter.MaxBanTimeout)})
	}
	b.st.Decisions = len(b.held)
	return bans, b.pending
}

func (b *Bouncer) failed(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.synced = false // where the stream stands is unknown: read it whole next
	b.st.failed(err, b.o.Now())
}

// Status reports the Bouncer's state.
func (b *Bouncer) Status() BouncerStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.o.Now()
	n := 0
	for _, h := range b.held {
		if h.expires.After(now) {
			n++
		}
	}
	st := b.st
	st.Decisions = n
	return st
}

// Covers reports whether a decision in force covers a: a ban of a, seen
// by the box, came from the fleet and is not pushed back.
func (b *Bouncer) Covers(a netip.Addr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.o.Now()
	a = a.Unmap()
	for _, h := range b.held {
		if h.prefix.Contains(a) && h.expires.After(now) {
			return true
		}
	}
	return false
}

// key identifies a decision: its ID, or its scope and value without one.
func (d decision) key() string {
	if d.ID != 0 {
		return fmt.Sprint(d.ID)
	}
	return strings.ToLower(d.Scope) + ":" + d.Value
}

// ban returns the decision as a ban in force from now; false for what is
// not enforced.
func (d decision) ban(now time.Time) (held, bool) {
	if !strings.EqualFold(d.Type, "ban") || d.Simulated {
		return held{}, false
	}
	var p netip.Prefix
	switch strings.ToLower(d.Scope) {
	case "ip":
		a, err := netip.ParseAddr(d.Value)
		if err != nil || a.Zone() != "" {
			return held{}, false
		}
		a = a.Unmap()
		p = netip.PrefixFrom(a, a.BitLen())
	case "range":
		q, err := netip.ParsePrefix(d.Value)
		if err != nil || q.Bits() == 0 {
			return held{}, false
		}
		p = netip.PrefixFrom(q.Addr().Unmap(), q.Bits()-(q.Addr().BitLen()-q.Addr().Unmap().BitLen())).Masked()
		if !p.IsValid() || p.Bits() <= 0 {
			return held{}, false
		}
	default:
		return held{}, false
	}
	left, err := time.ParseDuration(d.Duration)
	if err != nil || left < time.Second {
		return held{}, false
	}
	return held{prefix: p, expires: now.Add(left)}, true
}
