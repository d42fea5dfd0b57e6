package tollfraud

import (
	"bytes"
	"cmp"
	"hash/maphash"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipguard/sipguard/sip"
)

// The window: the last hour in periods of five minutes. A call is
// counted until its period is more than an hour old.
const (
	period  = 5 * time.Minute
	periods = int(time.Hour / period)
)

// Capacities of the tables; they never grow. An office PBX has tens or
// hundreds of extensions: a thousand fit, with room to spare. The
// extension and number tables are set-associative, four ways: a newcomer
// takes the place of the entry of its set whose last call is oldest. The
// Call-IDs are direct-mapped.
const (
	extSlots  = 1 << 10
	numSlots  = 1 << 12
	callSlots = 1 << 13
	ways      = 4
	maxName   = 32 // the longest extension name kept; longer ones are cut
)

// minPumped is the shortest number the per-number budget applies to. The
// PBX also sends INVITEs to its remote phones across the box, to their
// short extension numbers: a busy remote extension is not a number being
// pumped.
const minPumped = 7

// seenCall is a call already counted: its Call-ID's hash and when. An
// INVITE sent again (a retransmission, or with credentials after the
// carrier's challenge) keeps its Call-ID and is not a new call.
type seenCall struct {
	hash uint64
	at   int64
}

// bucket counts the calls of one period: all, high-risk, off-hours.
type bucket struct {
	period                uint32 // the period's number since the epoch; stale once an hour old
	calls, high, offHours uint16 // saturating
}

// window counts calls in the periods of the last hour, a bucket each.
type window [periods]bucket

// add counts a call in period p.
func (w *window) add(p uint32, high, off bool) {
	b := &w[p%uint32(periods)]
	if b.period != p {
		*b = bucket{period: p}
	}
	b.calls = sat(b.calls)
	if high {
		b.high = sat(b.high)
	}
	if off {
		b.offHours = sat(b.offHours)
	}
}

// sum counts the calls of the hour up to period p.
func (w *window) sum(p uint32) (calls, high, off int) {
	for _, b := range w {
		if b.period+uint32(periods) > p && b.period <= p {
			calls, high, off = calls+int(b.calls), high+int(b.high), off+int(b.offHours)
		}
	}
	return calls, high, off
}

func sat(v uint16) uint16 {
	if v == ^uint16(0) {
		return v
	}
	return v + 1
}

// Alerts are rate-limited per extension and reason: slots of lastAlert.
const (
	alertTollFraud = iota
	alertOffHours
	alertKinds
)

// extEntry is one calling extension.
type extEntry struct {
	hash      uint64 // 0: empty
	last      int64  // the last call, Unix nanoseconds
	lastAlert [alertKinds]int64
	name      [maxName]byte
	nameLen   uint8
	dialled   [maxNumber]byte // the last number called
	dialLen   uint8
	win       window
}

// numEntry is one dialled number.
type numEntry struct {
	hash      uint64
	last      int64
	lastAlert int64
	win       window
}

// compiled are the rules in force, with their prefixes ready to match.
type compiled struct {
	Rules
	highRisk [][]byte // E.164 prefixes, high_risk and block normalized
}

// Watch counts the office's outbound calls and raises toll-fraud alerts.
// Its methods are safe for concurrent use.
type Watch struct {
	rules atomic.Pointer[compiled]
	emit  func(sip.Decision)
	seed  maphash.Seed

	mu      sync.Mutex
	exts    []extEntry
	nums    []numEntry
	seen    []seenCall // direct-mapped by Call-ID
	evicted uint64     // extensions forgotten while they had calls in the hour
	calls   uint64     // new outbound calls counted
	alerts  uint64
}

// New returns a watch with rules r; emit receives its alerts and must not
// block (the ban pipeline's Submit).
func New(r Rules, emit func(sip.Decision)) (*Watch, error) {
	w := &Watch{emit: emit, seed: maphash.MakeSeed(), exts: make([]extEntry, extSlots), nums: make([]numEntry, numSlots),
		seen: make([]seenCall, callSlots)}
	if err := w.SetRules(r); err != nil {
		return nil, err
	}
	return w, nil
}

// SetRules swaps the rules; the counts are kept.
func (w *Watch) SetRules(r Rules) error {
	if err := r.Validate(); err != nil {
		return err
	}
	c := &compiled{Rules: r}
	c.HighRisk, c.Block = slices.Clone(r.HighRisk), slices.Clone(r.Block)
	if c.Location == nil {
		c.Location = time.UTC
	}
	for _, p := range append(slices.Clone(r.HighRisk), r.Block...) {
		var buf [maxNumber]byte
		n := normalize(&buf, []byte(p), r.InternationalPrefix)
		c.highRisk = append(c.highRisk, bytes.Clone(buf[:n]))
	}
	w.rules.Store(c)
	return nil
}

// Rules returns the rules in force.
func (w *Watch) Rules() Rules { return w.rules.Load().Rules }

func (c *compiled) isHighRisk(number []byte) bool {
	for _, p := range c.highRisk {
		if bytes.HasPrefix(number, p) {
			return true
		}
	}
	return false
}

// alert is an alert decided under the lock, emitted after it: copies of
// the extension and the number, on the stack.
type alert struct {
	reason      sip.Reason
	count       int
	extN, dialN int
	ext         [maxName]byte
	dialled     [maxNumber]byte
}

func (a *alert) set(reason sip.Reason, count int, e *extEntry, number []byte) {
	a.reason, a.count = reason, count
	a.extN = copy(a.ext[:], e.name[:e.nameLen])
	a.dialN = copy(a.dialled[:], number)
}

// due reports whether an alert last raised at last (Unix nanoseconds, 0:
// never) may be raised again at now: one an hour.
func due(last, now int64) bool { return last == 0 || now-last >= int64(time.Hour) }

// Observe counts one SIP message that entered from the office side, sent
// by src. Only a request that opens a call counts: an INVITE without a To
// tag (a re-INVITE within a call has one), the first with its Call-ID in
// the hour. It does not allocate, except to describe an alert.
func (w *Watch) Observe(now time.Time, src netip.Addr, m *sip.Message) {
	if !m.Request || m.Method != sip.INVITE || m.ToTag != nil {
		return
	}
	r := w.rules.Load()
	if !r.Enabled {
		return
	}
	var num [maxNumber]byte
	n := normalize(&num, m.URIUser, r.InternationalPrefix)
	number := num[:n]
	high := r.isHighRisk(number)
	off := !r.OfficeHours.Contains(now.In(r.Location))
	p := uint32(now.UnixNano() / int64(period))
	ns := now.UnixNano()

	var pending [2]alert
	np := 0

	callID := maphash.Bytes(w.seed, m.CallID) | 1
	w.mu.Lock()
	c := &w.seen[callID%callSlots]
	if c.hash == callID && ns-c.at < int64(time.Hour) {
		w.mu.Unlock()
		return // counted already
	}
	*c = seenCall{hash: callID, at: ns}
	w.calls++
	e := w.extension(m.FromUser, ns, p)
	e.win.add(p, high, off)
	e.last = ns
	e.dialLen = uint8(copy(e.dialled[:], number))
	calls, highCalls, offCalls := e.win.sum(p)
	nm := w.number(number, ns)
	nm.win.add(p, high, off)
	nm.last = ns
	numCalls, _, _ := nm.win.sum(p)

	if due(e.lastAlert[alertTollFraud], ns) {
		switch {
		case high && highCalls > r.HighRiskPerHour:
			pending[np].set(sip.ReasonTollFraud, highCalls, e, number)
			np++
		case calls > r.CallsPerHour:
			pending[np].set(sip.ReasonTollFraud, calls, e, number)
			np++
		case numCalls > r.CallsPerHour && len(number) >= minPumped && due(nm.lastAlert, ns):
			// One number called by many extensions: pumping spread out.
			pending[np].set(sip.ReasonTollFraud, numCalls, e, number)
			np++
			nm.lastAlert = ns
		}
		if np > 0 {
			e.lastAlert[alertTollFraud] = ns
		}
	}
	if off && offCalls > r.OffHoursLimit() && due(e.lastAlert[alertOffHours], ns) {
		pending[np].set(sip.ReasonOffHoursCalls, offCalls, e, number)
		np++
		e.lastAlert[alertOffHours] = ns
	}
	w.alerts += uint64(np)
	w.mu.Unlock()

	for i := range np {
		a := &pending[i]
		source := netip.PrefixFrom(src, src.BitLen())
		w.emit(sip.Decision{Action: sip.Alert, Source: source, Event: &sip.Event{
			Time: now, Action: sip.Alert, Source: source, Addr: src, Reason: a.reason, Count: a.count,
			UserAgent: string(m.UserAgent), Extension: string(a.ext[:a.extN]), Dialled: string(a.dialled[:a.dialN]),
		}})
	}
}

// extension finds or makes the entry of an extension; the caller holds
// the lock.
func (w *Watch) extension(name []byte, now int64, p uint32) *extEntry {
	if len(name) > maxName {
		name = name[:maxName]
	}
	h := maphash.Bytes(w.seed, name) | 1
	set := w.exts[int(h%uint64(extSlots/ways))*ways:][:ways]
	victim := &set[0]
	for i := range set {
		e := &set[i]
		if e.hash == h && string(e.name[:e.nameLen]) == string(name) {
			return e
		}
		if e.last < victim.last {
			victim = e
		}
	}
	if victim.hash != 0 {
		if c, _, _ := victim.win.sum(p); c > 0 {
			w.evicted++
		}
	}
	*victim = extEntry{hash: h, last: now}
	victim.nameLen = uint8(copy(victim.name[:], name))
	return victim
}

// number finds or makes the entry of a dialled number; the caller holds
// the lock. Numbers are told apart by their hash alone.
func (w *Watch) number(number []byte, now int64) *numEntry {
	h := maphash.Bytes(w.seed, number) | 1
	set := w.nums[int(h%uint64(numSlots/ways))*ways:][:ways]
	victim := &set[0]
	for i := range set {
		e := &set[i]
		if e.hash == h {
			return e
		}
		if e.last < victim.last {
			victim = e
		}
	}
	*victim = numEntry{hash: h, last: now}
	return victim
}

// Extension is one extension's outbound calls in the last hour.
type Extension struct {
	Extension string
	// Calls counts new outbound calls; HighRisk those to high-risk or
	// blocked destinations; OffHours those outside office hours.
	Calls, HighRisk, OffHours int
	LastDialled               string
	LastCall                  time.Time
}

// Extensions returns the extensions that called out in the hour before
// now, the most calls first.
func (w *Watch) Extensions(now time.Time) []Extension {
	p := uint32(now.UnixNano() / int64(period))
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Extension
	for i := range w.exts {
		e := &w.exts[i]
		if e.hash == 0 {
			continue
		}
		calls, high, off := e.win.sum(p)
		if calls == 0 {
			continue
		}
		out = append(out, Extension{Extension: string(e.name[:e.nameLen]), Calls: calls, HighRisk: high, OffHours: off,
			LastDialled: string(e.dialled[:e.dialLen]), LastCall: time.Unix(0, e.last)})
	}
	slices.SortFunc(out, func(a, b Extension) int {
		return cmp.Or(cmp.Compare(b.Calls, a.Calls), cmp.Compare(a.Extension, b.Extension))
	})
	return out
}

// Stats count what the watch saw and did.
type Stats struct {
	Calls  uint64 // new outbound calls counted
	Alerts uint64 // alerts raised
	// Evicted counts extensions forgotten to make room while they had
	// calls in the hour: more extensions calling out than the table holds.
	Evicted uint64
}

// Stats returns the watch's counters.
func (w *Watch) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Stats{Calls: w.calls, Alerts: w.alerts, Evicted: w.evicted}
}
