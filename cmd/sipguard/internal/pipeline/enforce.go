package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

// Kernel is the firewall as the pipeline drives it; *netfilter.Firewall
// satisfies it.
type Kernel interface {
	// Ban adds or restarts dynamic bans, in one batch.
	Ban(bans []netfilter.Ban) error
	// Unban lifts dynamic bans, in one batch.
	Unban(prefixes []netip.Prefix) error
	// Hold holds sources to a trickle of SIP requests, in one batch.
	Hold(holds []netfilter.Ban) error
	// Apply puts a whole ruleset in force, in one batch.
	Apply(r netfilter.Ruleset) error
}

// Journal is the state file as the pipeline writes it; *store.Store
// satisfies it.
type Journal interface {
	// BanHistory reads each source's ban history: how many dynamic bans,
	// the last one when.
	BanHistory(sources ...netip.Prefix) ([]store.History, error)
	// RecordBans counts one more dynamic ban for each source, its count
	// first forgiven one ban for every full decay since its last.
	RecordBans(decay time.Duration, sources ...netip.Prefix) ([]int, error)
	// Record writes dynamic bans, permanent bans and attack-log events in
	// one transaction.
	Record(dyn []store.Ban, perms []store.Ban, evs []store.Event) error
	// RemoveDynamic forgets dynamic bans.
	RemoveDynamic(sources ...netip.Prefix) error
	// LiftPermanent forgets permanent bans lifted by hand and their
	// sources' ban history, and logs evs, in one transaction.
	LiftPermanent(sources []netip.Prefix, evs []store.Event) (int, error)
}

// Hooks are the parts of the box the pipeline tells of what it does. Any
// may be nil; none may block.
type Hooks struct {
	// Banned is told of each batch that banned a source anew (the LEDs'
	// blip).
	Banned func()
	// Country returns the ISO code of an address, "" when unknown.
	Country func(netip.Addr) string
	// Alert gets each event, for the notifications.
	Alert func(store.Event)
	// Applied is told of each event once its batch is in the kernel, with
	// the time the kernel had it (the metrics' bans and time to ban). It
	// must not keep ev.
	Applied func(ev *sip.Event, at time.Time)
	// Decided gets each event with its ban's duration (0 for an alert, or
	// a permanent ban), for the CrowdSec agent; it must not block.
	Decided func(store.Event, time.Duration)
	// KernelFault and JournalFault get the outcome of each kernel change
	// and each journal write: nil clears the fault.
	KernelFault, JournalFault func(error)
}

// Options configure an Enforcer.
type Options struct {
	Log    *slog.Logger
	Kernel Kernel
	// Journal keeps bans and the ban history across restarts; nil keeps
	// nothing.
	Journal Journal
	// Rules is the ruleset in force when the pipeline starts; its
	// Permanent list is extended as sources are made permanent.
	Rules netfilter.Ruleset
	// Threshold is how many dynamic bans make a source permanent (the
	// detection rules' BlockThreshold).
	Threshold int
	// BanDecay forgives a source one of its dynamic bans for every full
	// BanDecay since its last ban, before its count is compared with the
	// threshold; 0 never forgives.
	BanDecay time.Duration
	// Queue bounds the decisions waiting for the kernel (default 4096);
	// JournalQueue the batches waiting for the state file (default 256).
	Queue, JournalQueue int
	// HistorySize bounds the ban counts kept in memory (default 65536);
	// beyond, the least useful are forgotten and read again from the
	// journal when needed.
	HistorySize int
	// MaxBans bounds the dynamic bans in force (default 65536): when a
	// new ban finds the kernel's set full, the ban that ends first is
	// lifted early, so that a flood of spoofed sources cannot grow the
	// set, and the memory it takes, without end.
	MaxBans int
	Hooks
}

// Stats count what the pipeline did and what it could not do.
type Stats struct {
	Decisions        uint64 `json:"decisions"`         // decisions applied
	Batches          uint64 `json:"batches"`           // kernel batches of bans
	DecisionsDropped uint64 `json:"decisions_dropped"` // the queue to the kernel was full
	KernelErrors     uint64 `json:"kernel_errors"`     // kernel changes refused
	RecordsDropped   uint64 `json:"records_dropped"`   // the queue to the state file was full
	JournalErrors    uint64 `json:"journal_errors"`    // state file writes that failed
	BansInForce      int    `json:"bans_in_force"`     // dynamic bans the kernel holds
	BansEvicted      uint64 `json:"bans_evicted"`      // lifted early to make room for newer ones
	Holds            uint64 `json:"holds"`             // sources held one failure away from a ban
}

// Enforcer applies the detection engine's decisions to the kernel in
// batches, decides permanent bans from each source's ban history, and
// hands what changed to the journal.
type Enforcer struct {
	log     *slog.Logger
	kernel  Kernel
	journal *journaler // nil without a journal
	hooks   Hooks
	queue   chan sip.Decision
	reloads chan reloadReq
	unbans  chan unbanReq

	// Owned by Run's goroutine.
	rules     netfilter.Ruleset
	permanent map[netip.Prefix]bool
	threshold int
	history   *history
	inForce   *inForce

	decisions, batches, decisionsDropped, kernelErrors, bansEvicted, holds atomic.Uint64
	bansInForce                                                            atomic.Int64
}

// reloadReq asks the enforcer to put a ruleset in force, and waits.
type reloadReq struct {
	rules     netfilter.Ruleset
	threshold int
	decay     time.Duration
	done      chan error
}

// unbanReq asks which permanent bans cover addresses or networks, and
// with lift set lifts them.
type unbanReq struct {
	prefixes []netip.Prefix
	lift     bool
	done     chan unbanResult
}

type unbanResult struct {
	covered [][]netip.Prefix
	written <-chan error // the state file's outcome; nil: nothing to wait for
	err     error
}

// New returns an enforcer; Run starts it.
func New(o Options) (*Enforcer, error) {
	if o.Kernel == nil {
		return nil, errors.New("pipeline: no kernel")
	}
	if o.Threshold < 1 {
		return nil, fmt.Errorf("pipeline: block threshold %d: at least 1", o.Threshold)
	}
	if o.BanDecay < 0 {
		return nil, fmt.Errorf("pipeline: ban decay %v: not negative", o.BanDecay)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	e := &Enforcer{
		log:       o.Log,
		kernel:    o.Kernel,
		hooks:     o.Hooks,
		queue:     make(chan sip.Decision, orDefault(o.Queue, 4096)),
		reloads:   make(chan reloadReq),
		unbans:    make(chan unbanReq),
		threshold: o.Threshold,
		history:   newHistory(orDefault(o.HistorySize, 1<<16)),
		inForce:   newInForce(orDefault(o.MaxBans, 1<<16)),
	}
	e.history.decay = o.BanDecay
	e.setRules(o.Rules)
	if o.Journal != nil {
		e.journal = newJournaler(o.Log, o.Journal, orDefault(o.JournalQueue, 256), o.JournalFault)
		e.history.journal = o.Journal
	}
	return e, nil
}

// orDefault returns v, or def when v is not positive.
func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func (e *Enforcer) setRules(r netfilter.Ruleset) {
	r.Permanent = slices.Clone(r.Permanent)
	e.rules = r
	e.permanent = make(map[netip.Prefix]bool, len(r.Permanent))
	for _, p := range r.Permanent {
		e.permanent[p.Masked()] = true
	}
}

// Submit queues a decision; it never blocks (a full queue drops it and
// counts it). It is the engine's emit function.
func (e *Enforcer) Submit(d sip.Decision) {
	select {
	case e.queue <- d:
	default:
		e.decisionsDropped.Add(1)
	}
}

// Reload puts a new ruleset, block threshold and ban decay in force,
// keeping the permanent bans made since the last one, and waits for the
// kernel.
func (e *Enforcer) Reload(ctx context.Context, r netfilter.Ruleset, threshold int, decay time.Duration) error {
	if threshold < 1 {
		return fmt.Errorf("block threshold %d: at least 1", threshold)
	}
	if decay < 0 {
		return fmt.Errorf("ban decay %v: not negative", decay)
	}
	req := reloadReq{rules: r, threshold: threshold, decay: decay, done: make(chan error, 1)}
	select {
	case e.reloads <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the pipeline's counters.
func (e *Enforcer) Stats() Stats {
	s := Stats{Decisions: e.decisions.Load(), Batches: e.batches.Load(), DecisionsDropped: e.decisionsDropped.Load(),
		KernelErrors: e.kernelErrors.Load(), BansInForce: int(e.bansInForce.Load()), BansEvicted: e.bansEvicted.Load(), Holds: e.holds.Load()}
	if e.journal != nil {
		s.RecordsDropped, s.JournalErrors = e.journal.dropped.Load(), e.journal.errors.Load()
	}
	return s
}

// Run applies decisions until ctx ends; then it writes what is still
// queued for the journal and returns.
func (e *Enforcer) Run(ctx context.Context) error {
	if e.journal != nil {
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			e.journal.run(stop)
		}()
		defer func() { close(stop); <-done }() // after the last batch
	}
	batch := make([]sip.Decision, 0, 256)
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-e.reloads:
			r.done <- e.reload(r.rules, r.threshold, r.decay)
			continue
		case r := <-e.unbans:
			r.done <- e.unban(ctx, r)
			continue
		case d := <-e.queue:
			batch = append(batch[:0], d)
		}
	drain:
		for len(batch) < cap(batch) {
			select {
			case d := <-e.queue:
				batch = append(batch, d)
			default:
				break drain
			}
		}
		e.apply(batch)
	}
}

// reload puts r in force with the permanent bans made since the last
// ruleset.
func (e *Enforcer) reload(r netfilter.Ruleset, threshold int, decay time.Duration) error {
	r.Permanent = slices.Clone(r.Permanent)
	for _, p := range e.rules.Permanent {
		if !slices.Contains(r.Permanent, p) {
			r.Permanent = append(r.Permanent, p)
		}
	}
	if err := e.kernelDid(e.kernel.Apply(r)); err != nil {
		return err
	}
	e.setRules(r)
	e.threshold, e.history.decay = threshold, decay
	return nil
}

// Permanents returns, for each address or network, the permanent bans
// over it (none for one not banned permanently).
func (e *Enforcer) Permanents(ctx context.Context, prefixes []netip.Prefix) ([][]netip.Prefix, error) {
	r, err := e.ask(ctx, unbanReq{prefixes: prefixes})
	return r.covered, err
}

// LiftPermanent lifts the permanent bans over each address or network,
// in the kernel at once, and in the state file, where the sources' ban
// history is forgotten too (their next dynamic ban counts from one) and
// the lift is logged. It returns, for each prefix, the bans lifted; one
// banned by none is no error. It waits for the kernel and the state file.
func (e *Enforcer) LiftPermanent(ctx context.Context, prefixes []netip.Prefix) ([][]netip.Prefix, error) {
	r, err := e.ask(ctx, unbanReq{prefixes: prefixes, lift: true})
	if err != nil {
		return r.covered, err
	}
	if r.written != nil {
		select {
		case err := <-r.written:
			if err != nil {
				return r.covered, fmt.Errorf("lifted in the kernel, but the state file keeps them: %w", err)
			}
		case <-ctx.Done():
			return r.covered, ctx.Err()
		}
	}
	return r.covered, nil
}

// ask hands a request to Run's goroutine and waits for its answer.
func (e *Enforcer) ask(ctx context.Context, req unbanReq) (unbanResult, error) {
	req.done = make(chan unbanResult, 1)
	select {
	case e.unbans <- req:
	case <-ctx.Done():
		return unbanResult{}, ctx.Err()
	}
	select {
	case r := <-req.done:
		return r, r.err
	case <-ctx.Done():
		return unbanResult{}, ctx.Err()
	}
}

// unban answers an unbanReq.
func (e *Enforcer) unban(ctx context.Context, req unbanReq) unbanResult {
	var out unbanResult
	var lifted []netip.Prefix
	for _, q := range req.prefixes {
		var covered []netip.Prefix
		for _, p := range e.rules.Permanent {
			if p.Overlaps(q) {
				covered = append(covered, p.Masked())
			}
		}
		out.covered = append(out.covered, covered)
		for _, p := range covered {
			if !slices.Contains(lifted, p) {
				lifted = append(lifted, p)
			}
		}
	}
	if !req.lift || len(lifted) == 0 {
		return out
	}
	r := e.rules
	r.Permanent = slices.DeleteFunc(slices.Clone(r.Permanent), func(p netip.Prefix) bool { return slices.Contains(lifted, p.Masked()) })
	if err := e.kernelDid(e.kernel.Apply(r)); err != nil {
		out.err = fmt.Errorf("lift permanent bans: %w", err)
		return out
	}
	e.setRules(r)
	now := time.Now()
	var evs []store.Event
	for i, q := range req.prefixes {
		for _, p := range out.covered[i] {
			e.history.reset(p)
			evs = append(evs, store.Event{Time: now, Action: store.ActionUnban, Source: p, Addr: q.Addr()})
			e.log.Info("permanent ban lifted by hand; the ban history of the source is forgotten", "source", p, "asked", q)
		}
	}
	if e.journal != nil {
		written := make(chan error, 1)
		if err := e.journal.submitWait(ctx, record{unbanned: lifted, events: evs, done: written}); err != nil {
			out.err = fmt.Errorf("lifted in the kernel, but not recorded in the state file: %w", err)
			return out
		}
		out.written = written
	}
	return out
}

// kernelDid counts and reports the outcome of a kernel change.
func (e *Enforcer) kernelDid(err error) error {
	if err != nil {
		e.kernelErrors.Add(1)
	}
	if e.hooks.KernelFault != nil {
		e.hooks.KernelFault(err)
	}
	return err
}

// allowed reports whether the allowlist covers the whole of source.
func (e *Enforcer) allowed(source netip.Prefix) bool {
	for _, a := range e.rules.Allow {
		if a.Bits() <= source.Bits() && a.Contains(source.Addr()) {
			return true
		}
	}
	return false
}

// bannedIn returns the sources a batch bans, when it also holds some: nil
// otherwise.
func bannedIn(batch []sip.Decision) map[netip.Prefix]bool {
	var m map[netip.Prefix]bool
	if !slices.ContainsFunc(batch, func(d sip.Decision) bool { return d.Action == sip.Hold }) {
		return nil
	}
	for _, d := range batch {
		if d.Action == sip.Ban {
			if m == nil {
				m = map[netip.Prefix]bool{}
			}
			m[d.Source.Masked()] = true
		}
	}
	return m
}

// apply puts one batch of decisions in force.
func (e *Enforcer) apply(batch []sip.Decision) {
	start := time.Now()
	var (
		bans      []netfilter.Ban
		holds     []netfilter.Ban
		evicted   []netip.Prefix
		rec       record
		logged    []logLine
		durations []time.Duration // of rec.events' bans
		permanent bool
	)
	e.history.load(batch)
	banning := bannedIn(batch)
	for _, d := range batch {
		src := d.Source.Masked()
		if e.permanent[src] || (d.Action != sip.Alert && e.allowed(src)) {
			continue // already banned for good; or the allowlist wins
		}
		if d.Action == sip.Hold {
			if !banning[src] { // a ban in the same batch makes the hold moot, and would wait for it
				holds = append(holds, netfilter.BanOf(src, d.Duration))
			}
			continue
		}
		e.decisions.Add(1)
		ev := d.Event
		country := ""
		if e.hooks.Country != nil {
			switch {
			case ev != nil:
				country = e.hooks.Country(ev.Addr) // once per event
			case d.Action == sip.Ban:
				country = e.hooks.Country(src.Addr())
			}
		}
		switch d.Action {
		case sip.Ban:
			n := e.history.add(src, start)
			rec.newBans = append(rec.newBans, src)
			if ev != nil {
				ev.Bans = n
			}
			if n >= e.threshold {
				e.rules.Permanent = append(e.rules.Permanent, src)
				e.permanent[src] = true
				permanent = true
				p := store.Ban{Prefix: src, At: start, Bans: n, Country: country}
				if ev != nil {
					ev.Action = sip.Permanent
					p.Reason, p.UserAgent = ev.Reason.String(), ev.UserAgent
				}
				rec.permanent = append(rec.permanent, p)
				break
			}
			fallthrough
		case sip.Refresh:
			bans = append(bans, netfilter.BanOf(src, d.Duration))
			e.inForce.put(src, start.Add(d.Duration).UnixNano(), start.UnixNano(), func(p netip.Prefix) {
				evicted = append(evicted, p)
				rec.lifted = append(rec.lifted, p)
			})
			dyn := store.Ban{Prefix: src, Until: start.Add(d.Duration)}
			if ev != nil { // a refresh keeps the ban's reason
				dyn.Reason, dyn.UserAgent, dyn.Country = ev.Reason.String(), ev.UserAgent, country
			}
			rec.bans = append(rec.bans, dyn)
		case sip.Alert:
			if ev != nil {
				ev.Bans = e.history.count(src, start)
			}
		}
		if ev != nil {
			rec.events = append(rec.events, storedEvent(ev, country))
			durations = append(durations, banDuration(ev.Action, d.Duration))
			logged = append(logged, logLine{ev, country})
		}
	}
	// Holds first: they stop a fast attacker's next guesses while the rest
	// of the batch goes in.
	if len(holds) > 0 {
		e.holds.Add(uint64(len(holds)))
		if err := e.kernelDid(e.kernel.Hold(holds)); err != nil {
			e.log.Error("holding sources failed", "sources", len(holds), "err", err)
		}
		for _, h := range holds {
			e.log.Info("hold: SIP requests over UDP paced until the ban or the end of the hold", "source", h.Addr, "for", h.Timeout.Round(time.Second),
				"netlink", time.Since(start).Round(time.Microsecond))
		}
	}
	if len(evicted) > 0 {
		e.bansEvicted.Add(uint64(len(evicted)))
		e.log.Warn("ban set full: the bans ending first lifted early", "lifted", len(evicted), "max", e.inForce.max)
		// A ban lifted early and banned again in the same batch is lifted
		// before the new batch bans it.
		if err := e.kernelDid(e.kernel.Unban(evicted)); err != nil {
			e.log.Error("lifting bans early failed", "bans", len(evicted), "err", err)
		}
	}
	e.bansInForce.Store(int64(e.inForce.len()))
	if len(bans) > 0 {
		e.batches.Add(1)
		if err := e.kernelDid(e.kernel.Ban(bans)); err != nil {
			e.log.Error("applying bans failed; a source still attacking is banned again at its next refresh", "bans", len(bans), "err", err)
		}
	}
	if permanent {
		if err := e.kernelDid(e.kernel.Apply(e.rules)); err != nil {
			e.log.Error("adding permanent bans failed; they are applied with the next change", "err", err)
		}
	}
	applied := time.Now()
	if len(rec.newBans) > 0 && e.hooks.Banned != nil {
		e.hooks.Banned()
	}
	if e.journal != nil {
		rec.decay = e.history.decay
		e.journal.submit(rec)
	}
	if e.hooks.Alert != nil {
		for _, ev := range rec.events {
			e.hooks.Alert(ev)
		}
	}
	if e.hooks.Applied != nil {
		for _, l := range logged {
			e.hooks.Applied(l.ev, applied)
		}
	}
	if e.hooks.Decided != nil {
		for i, ev := range rec.events {
			e.hooks.Decided(ev, durations[i])
		}
	}
	for _, l := range logged {
		ev := l.ev
		e.log.Info(ev.Action.String(), "source", ev.Source, "addr", ev.Addr, "country", l.country, "reason", ev.Reason,
			"count", ev.Count, "extension", ev.Extension, "dialled", ev.Dialled, "user_agent", ev.UserAgent, "bans", ev.Bans,
			"applied_after", applied.Sub(ev.Time).Round(time.Microsecond), "batch", len(batch), "netlink", applied.Sub(start).Round(time.Microsecond))
	}
}

type logLine struct {
	ev      *sip.Event
	country string
}

func storedEvent(ev *sip.Event, country string) store.Event {
	return store.Event{Time: ev.Time, Action: ev.Action.String(), Source: ev.Source, Addr: ev.Addr,
		Reason: ev.Reason.String(), Count: ev.Count, UserAgent: ev.UserAgent, Extension: ev.Extension, Dialled: ev.Dialled, Country: country}
}

// banDuration is how long an event's ban lasts: 0 for an alert, or a
// permanent ban.
func banDuration(a sip.Action, d time.Duration) time.Duration {
	if a == sip.Ban || a == sip.Refresh {
		return d
	}
	return 0
}
