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
	// ReasonTrunkFailures: failed calls from a trunk (a source whose call
	// the PBX took without credentials), tolerated: an alert.
	ReasonTrunkFailures
)

func (r Reason) String() string {
	return [...]string{"", "scanner User-Agent", "REGISTER brute force", "INVITE brute force",
		"slow brute force", "request flood", "failures from a source that registered successfully",
		"extension registered from several sources", "scanner User-Agent from a source the PBX accepted (ignored)",
		"slow guessing by a source that never authenticated", "guessing spread over a network",
		"outbound calls to high-risk destinations", "outbound calls outside office hours",
		"failed calls from a trunk the PBX accepted"}[r]
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
	// First is when the first failure counted toward a ban was seen
	// (the rules on failures); zero when the packet at Time decided alone.
	First time.Time
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
	trust   *trustTable // tolerance per (source, account)
	nets    *netTable   // failures per network
	salt    uint64      // seeds the hashes of trust and nets

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
	e := &Engine{emit: emit, seed: maphash.MakeSeed(), sources: newSourceTable(maxSources), txs: make([]transaction, txSlots),
		parked: make([]parked, parkedSlots), exts: newExtTable(extSlots), trust: new(trustTable), nets: new(netTable), salt: rand.Uint64()}
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
	tier := s.worth(e.lastSeen, r) >> 40
	return tier == tierBanned || tier == tierCounting
}

// Forget drops the state of the source a belongs to, and of its network
// (after a manual unban): their counters and bans start afresh.
func (e *Engine) Forget(a netip.Addr) {
	a = a.Unmap()
	r := e.rules.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sources.remove(keyOf(a, r.prefix(a)))
	if k, ok := r.networkOf(a); ok {
		if n := e.nets.get(k, e.salt, 0, false); n != nil {
			*n = netEntry{}
		}
	}
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

// networkOf returns the network a source's failures are counted in, false
// when that is off or the network is no wider than the source.
func (r *compiledRules) networkOf(a netip.Addr) (srcKey, bool) {
	bits := r.Network6
	if a.Is4() {
		bits = r.Network4
	}
	if r.NetworkLimit == 0 || bits >= r.prefix(a) {
		return srcKey{}, false
	}
	return keyOf(a, bits), true
}

func (e *Engine) request(now time.Time, r *compiledRules, src netip.Addr, m *Message) {
	src = src.Unmap()
	t := now.UnixNano()
	s := e.sources.get(keyOf(src, r.prefix(src)), t, r)
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
	if n := e.bannedNetwork(r, src, t); n != nil {
		// Its network is banned: the same, for the network's ban.
		if t-n.refreshed > int64(refreshEvery(r.BlockTime)) {
			n.refreshed = t
			n.bannedUntil = t + int64(n.banFor)
			e.nets.bannedUntil = max(e.nets.bannedUntil, n.bannedUntil)
			e.emit(Decision{Action: Refresh, Source: n.key.prefix(), Duration: n.banFor})
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
			e.answered(r, dst, t, a.method == INVITE && !tx.creds)
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
	s := e.sources.get(keyOf(dst, r.prefix(dst)), t, r)
	if s.bannedUntil > t || e.bannedNetwork(r, dst, t) != nil {
		return
	}
	if e.tolerated(now, r, s, dst, tx, a.method) {
		return
	}
	// From here on the failure counts as anyone's.
	if s.firstFailure == 0 || t-s.firstFailure > int64(max(time.Hour, r.GuessPeriod)) {
		s.firstFailure = t // a failure older than every window no longer counts toward a ban
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
	if !s.authenticated(t) {
		// A source the PBX never accepted: its failures fill the guessing
		// bucket, and count toward its network's.
		if e.networkFailure(now, r, dst, tx) {
			return
		}
		if over(&s.guessTAT, t, r.GuessLimit, int64(r.GuessPeriod)) {
			e.ban(now, r, s, dst, ReasonSlowGuessing, r.GuessLimit+1, r.BlockTime, tx.agent(), tx.extension())
			return
		}
	}
	e.holdIfNext(r, s, dst, t)
}

// tolerated reports whether a failure of a source the PBX accepted is
// excused (an alert, no count): on an account that succeeded from the
// source, or on one of at most TrustedOtherExtensions others, up to
// TrustedFailures each per trust window; or a trunk's INVITE, up to
// TrunkFailures per trust window.
func (e *Engine) tolerated(now time.Time, r *compiledRules, s *sourceState, addr netip.Addr, tx *transaction, method Method) bool {
	t, window := now.UnixNano(), int64(r.TrustWindow)
	if s.trustedUntil > t {
		h := e.pairHash(s.key, tx.extHash)
		en := e.trust.find(h)
		ok := true
		if en == nil || en.validUntil <= t {
			// An account that never succeeded from the source within the
			// window (or whose entry was lost): one of its few others.
			if ok = fits(&s.otherTAT, t, r.TrustedOtherExtensions, window); ok {
				if en == nil {
					en = e.trust.add(h, t)
				}
				en.validUntil = t + window
			}
		}
		if ok {
			if en.tat <= t {
				en.alerted = false // a new run of failures
			}
			if fits(&en.tat, t, r.TrustedFailures, window) {
				if !en.alerted {
					en.alerted = true
					e.alert(now, s, addr, ReasonKnownGoodFailures, 1, tx)
				}
				return true
			}
		}
	}
	if s.trunkUntil > t && method == INVITE {
		if s.trunkTAT <= t {
			s.trunkAlerted = false
		}
		if fits(&s.trunkTAT, t, r.TrunkFailures, window) {
			if !s.trunkAlerted {
				s.trunkAlerted = true
				e.alert(now, s, addr, ReasonTrunkFailures, 1, tx)
			}
			return true
		}
	}
	return false
}

// bannedNetwork returns the entry of addr's network if the network is
// banned, else nil. It costs a comparison while no network ban is in force.
func (e *Engine) bannedNetwork(r *compiledRules, addr netip.Addr, t int64) *netEntry {
	if e.nets.bannedUntil <= t {
		return nil
	}
	k, ok := r.networkOf(addr)
	if !ok {
		return nil
	}
	if n := e.nets.get(k, e.salt, t, false); n != nil && n.bannedUntil > t {
		return n
	}
	return nil
}

// networkFailure counts a failure of a source that never authenticated in
// its network, and bans the network when more than NetworkLimit failures
// per GuessPeriod came from at least three different sources of it. It
// reports whether the network was banned.
func (e *Engine) networkFailure(now time.Time, r *compiledRules, addr netip.Addr, tx *transaction) bool {
	k, ok := r.networkOf(addr)
	if !ok {
		return false
	}
	t := now.UnixNano()
	n := e.nets.get(k, e.salt, t, true)
	if n.tat <= t {
		n.nsources = 0 // a new run of failures
	}
	src := keyOf(addr, r.prefix(addr))
	sources := n.distinct(uint32(src.hash(e.salt)))
	if fits(&n.tat, t, r.NetworkLimit, int64(r.GuessPeriod)) || sources < len(n.sources) || n.trustedUntil > t {
		return false
	}
	d := r.BlockTime
	n.banFor, n.bannedUntil, n.refreshed = d, t+int64(d), t
	n.tat, n.nsources = 0, 0
	e.nets.bannedUntil = max(e.nets.bannedUntil, n.bannedUntil)
	ev := &Event{Time: now, Action: Ban, Source: k.prefix(), Addr: addr, Reason: ReasonNetworkGuessing, Count: r.NetworkLimit + 1,
		UserAgent: string(tx.agent()), Extension: tx.extension()}
	e.emit(Decision{Action: Ban, Source: ev.Source, Duration: d, Event: ev})
	return true
}

// holdAhead is how many failures away from a ban a source is held: three,
// so that the hold is in the kernel before the failure that bans, even when
// the capture or the kernel is a millisecond late and the attacker's
// guesses come a fraction of a millisecond apart.
const holdAhead = 3

// holdMax bounds a hold from the failure that placed it: enough for a late
// ban to land, and a slow rule (the slow-guessing bucket's failures age
// out in hours) does not throttle a phone for long after its user fixed
// the password.
const holdMax = int64(time.Minute)

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
	until = min(until, t+holdMax)
	if until <= s.heldUntil || until <= t {
		return
	}
	s.heldUntil = until
	e.emit(Decision{Action: Hold, Source: s.key.prefix(), Duration: max(time.Duration(until-t), time.Second)})
}

// success records a successful registration: the source is known-good for
// a while, the account succeeded from it, and the extension's sources and
// country are checked for a hijack.
func (e *Engine) success(now time.Time, r *compiledRules, src netip.Addr, tx *transaction) {
	t := now.UnixNano()
	k := keyOf(src, r.prefix(src))
	s := e.sources.get(k, t, r)
	s.trustedUntil = t + int64(r.TrustWindow)
	s.answeredUntil = s.trustedUntil
	s.framed = false
	e.trustNetwork(r, src, s.trustedUntil, t)
	// The account's tolerance is kept: a new success does not refill it.
	h := e.pairHash(k, tx.extHash)
	en := e.trust.find(h)
	if en == nil {
		en = e.trust.add(h, t)
	}
	en.validUntil = s.trustedUntil

	ext := e.exts.entry(tx.extHash)
	n, fresh := ext.seen(k, t, int64(r.HijackWindow))
	country := ""
	if r.HijackNewCountry && r.Country != nil {
		country = r.Country(src)
	}
	prev := ext.country
	moved := ext.movedCountry(country, t)
	if !(n >= r.HijackSources && fresh) && !moved {
		return
	}
	if r.HijackAction == HijackBan && (r.Allowed == nil || !r.Allowed(src)) {
		// The source that completed the pattern goes; the extension's
		// own sources and country stay as they were.
		ext.forget(k)
		if moved {
			ext.country = prev
		}
		e.ban(now, r, s, src, ReasonHijack, n, r.BlockTime, tx.agent(), tx.extension())
		return
	}
	e.alert(now, s, src, ReasonHijack, n, tx)
}

// answered records that the PBX accepted a registration or a call from src
// without credentials (a trunk, a carrier, a phone authenticated by its
// address): the source is real and talks with the PBX, so a single packet
// the box cannot verify does not ban it. A call answered without a
// challenge makes it a trunk, whose failed calls are tolerated for a while.
func (e *Engine) answered(r *compiledRules, src netip.Addr, t int64, trunk bool) {
	s := e.sources.get(keyOf(src, r.prefix(src)), t, r)
	s.answeredUntil = max(s.answeredUntil, t+int64(r.TrustWindow))
	if trunk {
		s.trunkUntil = s.answeredUntil
	}
	s.framed = false
	e.trustNetwork(r, src, s.answeredUntil, t)
}

// trustNetwork records that a source of src's network authenticated, until
// until: the network is never banned whole while it holds one.
func (e *Engine) trustNetwork(r *compiledRules, src netip.Addr, until, t int64) {
	if k, ok := r.networkOf(src); ok {
		n := e.nets.get(k, e.salt, t, true)
		n.trustedUntil = max(n.trustedUntil, until)
	}
}

func (e *Engine) ban(now time.Time, r *compiledRules, s *sourceState, addr netip.Addr, reason Reason, count int, d time.Duration, agent []byte, ext string) {
	if r.Allowed != nil && r.Allowed(addr) {
		return // the allowlist always wins; checked here, not on every packet
	}
	t := now.UnixNano()
	s.banFor, s.bannedUntil, s.refreshed = d, t+int64(d), t
	s.registerTAT, s.inviteTAT, s.hourlyTAT, s.floodTAT, s.guessTAT = 0, 0, 0, 0, 0
	ev := &Event{Time: now, Action: Ban, Source: s.key.prefix(), Addr: addr, Reason: reason, Count: count,
		UserAgent: string(agent), Extension: ext}
	if s.firstFailure != 0 && reason != ReasonScanner && reason != ReasonFlood && reason != ReasonHijack {
		ev.First = time.Unix(0, s.firstFailure)
	}
	s.firstFailure = 0
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

// fits is a GCRA bucket of n events per period that only counts the events
// that fit: it reports whether one more fits now, and if so counts it. A
// bucket of 0 holds nothing.
func fits(tat *int64, t int64, n int, period int64) bool {
	if n <= 0 {
		return false
	}
	next := max(*tat, t) + period/int64(n)
	if next-t > period {
		return false
	}
	*tat = next
	return true
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
