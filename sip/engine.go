package sip

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Direction says on which side of the box a frame entered.
type Direction uint8

const (
	// FromWAN frames come from the internet.
	FromWAN Direction = iota + 1
	// FromLAN frames come from the office: the PBX's answers.
	FromLAN
)

// Action is what the engine asks the enforcement side to do.
type Action uint8

const (
	// Ban: drop the source for Decision.Duration. The enforcement side,
	// which keeps each source's ban history, makes it permanent when the
	// history reaches the block threshold.
	Ban Action = iota + 1
	// Refresh: the source is banned and still sending; its ban restarts.
	Refresh
	// Permanent: the source is on the permanent list. The engine never
	// decides it; the enforcement side records it in events.
	Permanent
	// Alert: tell the administrator; nothing is blocked.
	Alert
	// Hold: the source is at most three failures away from a ban. The kernel
	// holds its SIP requests to a trickle for Decision.Duration, so that
	// its ban, however late, finds no more guesses through. Event is nil.
	Hold
)

func (a Action) String() string {
	return [...]string{"", "ban", "refresh", "permanent", "alert", "hold"}[a]
}

// Reason is why a source was banned or an alert raised.
type Reason uint8

const (
	ReasonScanner Reason = iota + 1
	ReasonRegisterBruteForce
	ReasonInviteBruteForce
	ReasonSlowBruteForce
	ReasonFlood
	ReasonKnownGoodFailures
	ReasonHijack
	// ReasonScannerFromAnswered: a scanner's User-Agent from a source the
	// PBX accepted; the packet is ignored, the source is not banned.
	ReasonScannerFromAnswered
	// ReasonSlowGuessing: failures from a source that never authenticated,
	// too many for the slow-guessing bucket.
	ReasonSlowGuessing
	// ReasonNetworkGuessing: guessing spread over the addresses of one
	// network (an IPv4 /24, an IPv6 /64), counted together.
	ReasonNetworkGuessing
	// ReasonTollFraud: outbound calls to high-risk destinations, or more
	// calls than an extension's budget.
	ReasonTollFraud
	// ReasonOffHoursCalls: outbound calls outside office hours.
	ReasonOffHoursCalls
)

func (r Reason) String() string {
	return [...]string{"", "scanner User-Agent", "REGISTER brute force", "INVITE brute force",
		"slow brute force", "request flood", "failures from a source that registered successfully",
		"extension registered from several sources", "scanner User-Agent from a source the PBX accepted (ignored)",
		"slow guessing by a source that never authenticated", "guessing spread over a network",
		"outbound calls to high-risk destinations", "outbound calls outside office hours"}[r]
}

// Decision is one thing for the enforcement side to do. Event is nil for a
// Refresh.
type Decision struct {
	Action   Action
	Source   netip.Prefix
	Duration time.Duration
	Event    *Event
}

// Event records a ban or an alert for the log and the notifications.
type Event struct {
	Time      time.Time
	Action    Action
	Source    netip.Prefix
	Addr      netip.Addr // the address that sent the last packet
	Reason    Reason
	Count     int    // failures or requests counted
	UserAgent string // of the last request
	Extension string // extension tried or hijacked
	Dialled   string // the number an outbound call dialled (toll fraud)
	Bans      int    // dynamic bans of this source so far, this one included (filled in by the enforcement side)
}

func (e *Event) String() string {
	return fmt.Sprintf("%s %v: %v (count %d, extension %q, User-Agent %q)", e.Action, e.Source, e.Reason, e.Count, e.Extension, e.UserAgent)
}

// Engine judges SIP traffic source by source and emits decisions. Handle is
// called for every SIP message seen; it does not allocate on the common
// path (allocation happens only to describe a ban or an alert).
type Engine struct {
	rules atomic.Pointer[compiledRules]
	emit  func(Decision)

	mu      sync.Mutex
	seed    maphash.Seed
	sources *sourceTable
	txs     []transaction // direct-mapped by transaction hash
	parked  []parked      // answers seen before their request
	exts    *extTable

	framingIgnored uint64
	lastSeen       int64 // the time of the last message handled
}

type compiledRules struct {
	Rules
	agents []string // lower case
	// pairs marks the lower-case first two bytes of every agent (a bitmap
	// small enough to stay in cache), so that a User-Agent is scanned once,
	// not once per agent.
	pairs *[1 << 13]byte
	salt  uint64 // differs for every set of rules, so that they re-check agents
}

func pairOf(a, b byte) uint16 { return uint16(lower(a))<<8 | uint16(lower(b)) }

// scanner reports whether a User-Agent contains one of the scanner names.
func (r *compiledRules) scanner(ua []byte) bool {
	for i := 0; i+1 < len(ua); i++ {
		if p := pairOf(ua[i], ua[i+1]); r.pairs[p>>3]&(1<<(p&7)) == 0 {
			continue
		}
		for _, a := range r.agents {
			if len(a) >= 2 && i+len(a) <= len(ua) && equalFold(ua[i:i+len(a)], a) {
				return true
			}
		}
	}
	return false
}

// Capacities of the engine's tables; they never grow.
const (
	DefaultSources = 1 << 16
	txSlots        = 1 << 16
	parkedSlots    = 1 << 10
	extSlots       = 1 << 12
)

// NewEngine returns an engine tracking at most maxSources sources (the
// least recently seen are forgotten first). emit receives the decisions; it
// must not block (hand them to a queue).
func NewEngine(r Rules, maxSources int, emit func(Decision)) (*Engine, error) {
	e := &Engine{emit: emit, seed: maphash.MakeSeed(), sources: newSourceTable(maxSources), txs: make([]transaction, txSlots), parked: make([]parked, parkedSlots), exts: newExtTable(extSlots)}
	if err := e.SetRules(r); err != nil {
		return nil, err
	}
	return e, nil
}

// SetRules swaps the rules; state (counters, bans) is kept.
func (e *Engine) SetRules(r Rules) error {
	if err := r.Validate(); err != nil {
		return err
	}
	c := &compiledRules{Rules: r, pairs: new([1 << 13]byte), salt: rand.Uint64()}
	for _, a := range r.ScannerAgents {
		a = lowerString(strings.TrimSpace(a))
		if len(a) < 2 {
			return fmt.Errorf("scanner agent %q: at least two characters", a)
		}
		c.agents = append(c.agents, a)
		p := pairOf(a[0], a[1])
		c.pairs[p>>3] |= 1 << (p & 7)
	}
	e.rules.Store(c)
	return nil
}

// EngineStats count what the engine had to give up or refuse.
type EngineStats struct {
	Tracked int // sources the engine holds state for
	// EvictedActive: sources forgotten to make room while they still had
	// failures counted, a ban or trust: a flood wider than the table.
	EvictedActive uint64
	// FramingIgnored: scanner packets ignored because their source was
	// accepted by the PBX within the trust window.
	FramingIgnored uint64
}

// Stats returns the engine's counters.
func (e *Engine) Stats() EngineStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return EngineStats{Tracked: e.sources.len(), EvictedActive: e.sources.evictedActive, FramingIgnored: e.framingIgnored}
}

// Tracked returns how many sources the engine holds state for.
func (e *Engine) Tracked() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sources.len()
}

// SourceOf returns the source an address counts as: its prefix under the
// rules' Prefix4 or Prefix6.
func (e *Engine) SourceOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	return keyOf(a, e.rules.Load().prefix(a)).prefix()
}

// Suspect reports whether the source a belongs to has failures counted or
// is banned: when the capture falls behind, its requests are read before
// those of sources with nothing against them. It adds no source.
func (e *Engine) Suspect(a netip.Addr) bool {
	a = a.Unmap()
	r := e.rules.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.sources.find(keyOf(a, r.prefix(a)))
	if s == nil {
		return false
	}
	tier := s.worth(e.lastSeen) >> 40
	return tier == tierBanned || tier == tierCounting
}

// Forget drops the state of the source a belongs to (after a manual
// unban): its counters and its ban start afresh.
func (e *Engine) Forget(a netip.Addr) {
	a = a.Unmap()
	r := e.rules.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sources.remove(keyOf(a, r.prefix(a)))
}

// Handle judges one message that entered the box from dir.
func (e *Engine) Handle(now time.Time, dir Direction, p *Packet, m *Message) {
	r := e.rules.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastSeen = now.UnixNano()
	switch {
	case dir == FromWAN && m.Request:
		e.request(now, r, p.Src, m)
	case dir == FromLAN && !m.Request:
		e.response(now, r, p.Dst, m)
	}
}

func (r *compiledRules) prefix(a netip.Addr) int {
	if a.Is4() {
		return r.Prefix4
	}
	return r.Prefix6
}

func (e *Engine) request(now time.Time, r *compiledRules, src netip.Addr, m *Message) {
	src = src.Unmap()
	t := now.UnixNano()
	s := e.sources.get(keyOf(src, r.prefix(src)), t)
	if s.bannedUntil > t {
		// Banned and still sending (the capture sees what the kernel then
		// drops): the ban restarts, at most every few seconds.
		if t-s.refreshed > int64(refreshEvery(r.BlockTime)) {
			s.refreshed = t
			s.bannedUntil = t + int64(s.banFor)
			e.emit(Decision{Action: Refresh, Source: s.key.prefix(), Duration: s.banFor})
		}
		return
	}
	tx := e.remember(m, src, t)
	if a, ok := e.unpark(tx.hash, src, t); ok {
		if e.judge(now, r, src, tx, a); s.bannedUntil > t {
			return // banned by its early answer
		}
	}
	// The User-Agent is checked once per source and User-Agent (and rules):
	// a phone sends the same one all day.
	if len(m.UserAgent) > 0 {
		if h := maphash.Bytes(e.seed, m.UserAgent) ^ r.salt; h != s.agentHash {
			if r.scanner(m.UserAgent) {
				if s.answeredUntil > t || s.trustedUntil > t {
					// One packet the box cannot verify (over UDP anyone can
					// write this address on it) does not cut off a source
					// the PBX accepted: it is ignored, and reported once.
					e.framingIgnored++
					if !s.framed {
						s.framed = true
						e.alert(now, s, src, ReasonScannerFromAnswered, 1, tx)
					}
					return
				}
				e.ban(now, r, s, src, ReasonScanner, 1, r.BlockTime, m.UserAgent, extensionOf(m))
				return
			}
			s.agentHash = h
		}
	}
	if over(&s.floodTAT, t, 2*r.FloodRate, int64(2*time.Second)) {
		e.ban(now, r, s, src, ReasonFlood, 2*r.FloodRate, r.BlockTime, m.UserAgent, extensionOf(m))
	}
}

// answer is what judging needs of a response.
type answer struct {
	status int
	stale  bool
	method Method
}

func (e *Engine) response(now time.Time, r *compiledRules, dst netip.Addr, m *Message) {
	dst = dst.Unmap()
	a := answer{status: m.Status, stale: m.Stale, method: m.Method}
	h := e.txHash(m)
	tx := e.lookup(h)
	if tx == nil || tx.src != dst {
		// The two ports are read side by side: an answer can be handled
		// before its request (a request that came in fragments is read
		// only once whole). Keep it until the request shows up, even when
		// another source's request with the same identifiers is in the
		// slot: an attacker must not hide its answers behind one.
		e.park(h, dst, a, now.UnixNano())
		return
	}
	e.judge(now, r, dst, tx, a)
}

// judge classifies an answer to a request of dst's.
func (e *Engine) judge(now time.Time, r *compiledRules, dst netip.Addr, tx *transaction, a answer) {
	t := now.UnixNano()
	failure := false
	switch {
	case a.status >= 200 && a.status < 300:
		switch {
		case a.method == REGISTER && tx.creds:
			e.success(now, r, dst, tx)
		case a.method == REGISTER || a.method == INVITE:
			e.answered(r, dst, t)
		}
		return
	case a.status == 401 || a.status == 407:
		failure = tx.creds && !a.stale // a first challenge is normal SIP
	case a.status == 403:
		failure = true
	case a.status == 404:
		failure = a.method == REGISTER // extension enumeration
	}
	if !failure || (r.Allowed != nil && r.Allowed(dst)) {
		return
	}
	s := e.sources.get(keyOf(dst, r.prefix(dst)), t)
	if s.bannedUntil > t {
		return
	}
	if s.trustedUntil > t && int(s.trustedFailures) < r.TrustedFailures {
		s.trustedFailures++
		if s.trustedFailures == 1 {
			e.alert(now, s, dst, ReasonKnownGoodFailures, 1, tx)
		}
		return
	}
	limit, tat, reason, banFor := r.RegisterLimit, &s.registerTAT, ReasonRegisterBruteForce, r.BlockTime
	if a.method == INVITE {
		limit, tat, reason, banFor = r.InviteLimit, &s.inviteTAT, ReasonInviteBruteForce, r.InviteBlockTime
	}
	if a.method == REGISTER || a.method == INVITE {
		if over(tat, t, limit, int64(time.Minute)) {
			e.ban(now, r, s, dst, reason, limit+1, banFor, tx.agent(), tx.extension())
			return
		}
	}
	if over(&s.hourlyTAT, t, r.HourlyLimit, int64(time.Hour)) {
		e.ban(now, r, s, dst, ReasonSlowBruteForce, r.HourlyLimit+1, r.BlockTime, tx.agent(), tx.extension())
		return
	}
	e.holdIfNext(r, s, dst, t)
}

// holdAhead is how many failures away from a ban a source is held: three,
// so that the hold is in the kernel before the failure that bans, even when
// the capture or the kernel is a millisecond late and the attacker's
// guesses come a fraction of a millisecond apart.
const holdAhead = 3

// holdIfNext holds the source in the kernel when the next holdAhead
// failures would ban it, for as long as that stays true.
func (e *Engine) holdIfNext(r *compiledRules, s *sourceState, addr netip.Addr, t int64) {
	if r.Allowed != nil && r.Allowed(addr) {
		return
	}
	var until int64
	for _, c := range s.failureChecks(r) {
		// holdAhead more failures ban while t < tat + holdAhead*period/limit - period.
		if end := c.tat + holdAhead*c.period/int64(c.limit) - c.period; end > t {
			until = max(until, end)
		}
	}
	if until <= s.heldUntil || until <= t {
		return
	}
	s.heldUntil = until
	e.emit(Decision{Action: Hold, Source: s.key.prefix(), Duration: max(time.Duration(until-t), time.Second)})
}

// success records a successful registration: the source is known-good for
// a while, and the extension's sources are checked for a hijack.
func (e *Engine) success(now time.Time, r *compiledRules, src netip.Addr, tx *transaction) {
	t := now.UnixNano()
	s := e.sources.get(keyOf(src, r.prefix(src)), t)
	s.trustedUntil = t + int64(r.TrustWindow)
	s.answeredUntil = s.trustedUntil
	s.trustedFailures = 0
	s.framed = false
	if n := e.exts.seen(tx.extHash, keyOf(src, r.prefix(src)), t, int64(r.HijackWindow)); n >= r.HijackSources {
		e.alert(now, s, src, ReasonHijack, n, tx)
	}
}

// answered records that the PBX accepted a registration or a call from src
// without credentials (a trunk, a carrier, a phone authenticated by its
// address): the source is real and talks with the PBX, so a single packet
// the box cannot verify does not ban it. Its failures count as anyone's.
func (e *Engine) answered(r *compiledRules, src netip.Addr, t int64) {
	s := e.sources.get(keyOf(src, r.prefix(src)), t)
	s.answeredUntil = max(s.answeredUntil, t+int64(r.TrustWindow))
	s.framed = false
}

func (e *Engine) ban(now time.Time, r *compiledRules, s *sourceState, addr netip.Addr, reason Reason, count int, d time.Duration, agent []byte, ext string) {
	if r.Allowed != nil && r.Allowed(addr) {
		return // the allowlist always wins; checked here, not on every packet
	}
	t := now.UnixNano()
	s.banFor, s.bannedUntil, s.refreshed = d, t+int64(d), t
	s.registerTAT, s.inviteTAT, s.hourlyTAT, s.floodTAT = 0, 0, 0, 0
	ev := &Event{Time: now, Action: Ban, Source: s.key.prefix(), Addr: addr, Reason: reason, Count: count,
		UserAgent: string(agent), Extension: ext}
	e.emit(Decision{Action: Ban, Source: ev.Source, Duration: d, Event: ev})
}

func (e *Engine) alert(now time.Time, s *sourceState, addr netip.Addr, reason Reason, count int, tx *transaction) {
	ev := &Event{Time: now, Action: Alert, Source: s.key.prefix(), Addr: addr, Reason: reason, Count: count,
		UserAgent: string(tx.agent()), Extension: tx.extension()}
	e.emit(Decision{Action: Alert, Source: ev.Source, Event: ev})
}

// refreshEvery bounds how often a banned source's ban is restarted.
func refreshEvery(block time.Duration) time.Duration {
	return min(block/10, 10*time.Second)
}

// over is a GCRA rate check: it counts one event and reports whether more
// than n fell within period (t and period in nanoseconds).
func over(tat *int64, t int64, n int, period int64) bool {
	if *tat < t {
		*tat = t
	}
	*tat += period / int64(n)
	return *tat-t > period
}

func extensionOf(m *Message) string {
	switch {
	case m.Method == INVITE && m.URIUser != nil:
		return string(m.URIUser)
	case m.ToUser != nil:
		return string(m.ToUser)
	}
	return ""
}

func lowerString(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower(c)
	}
	return string(b)
}
