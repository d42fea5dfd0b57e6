package sip

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"time"
)

// srcKey is a source: its address masked to the counting prefix (IPv4 as
// IPv4-mapped IPv6) and the prefix length.
type srcKey struct {
	addr [16]byte
	bits uint8
}

func keyOf(a netip.Addr, bits int) srcKey {
	a = a.Unmap()
	if bits < a.BitLen() {
		if p, err := a.Prefix(bits); err == nil {
			a = p.Addr()
		}
	}
	k := srcKey{addr: a.As16(), bits: uint8(bits)}
	if a.Is4() {
		k.bits += 96
	}
	return k
}

func (k srcKey) prefix() netip.Prefix {
	a := netip.AddrFrom16(k.addr)
	if k.bits >= 96 && a.Is4In6() {
		return netip.PrefixFrom(a.Unmap(), int(k.bits)-96)
	}
	return netip.PrefixFrom(a, int(k.bits))
}

// sourceState is what the engine knows of one source. Times are Unix
// nanoseconds.
type sourceState struct {
	key                                         srcKey
	floodTAT, registerTAT, inviteTAT, hourlyTAT int64  // rate checks
	guessTAT                                    int64  // slow guessing, while the source never authenticated
	trustedUntil                                int64  // known-good after a successful registration
	answeredUntil                               int64  // the PBX accepted a registration or a call from it
	trunkUntil                                  int64  // the PBX answered an INVITE without credentials: a trunk
	otherTAT                                    int64  // extensions tolerated that never succeeded from the source
	trunkTAT                                    int64  // a trunk's INVITE failures tolerated
	agentHash                                   uint64 // the last User-Agent found clean, salted by the rules
	bannedUntil, refreshed                      int64
	heldUntil                                   int64 // held in the kernel, one failure away from a ban
	firstFailure                                int64 // the first failure counted since the last ban, for the time to ban
	banFor                                      time.Duration
	ref                                         bool
	framed                                      bool // a scanner packet was ignored while answered; alerted once
	trunkAlerted                                bool // the trunk's tolerated failures were reported
}

// authenticated reports whether the PBX accepted the source within the
// trust window: a successful registration, or a registration or call it
// took without credentials.
func (s *sourceState) authenticated(t int64) bool {
	return s.trustedUntil > t || s.answeredUntil > t
}

// sourceTable holds at most cap sources. When full it forgets the least
// valuable of evictSample slots picked at random: first one with nothing
// pending (no failure counted, no ban, no trust) and not seen again since
// it was last sampled, else the one furthest from a ban, else the oldest.
// Random samples make that close to forgetting the least valuable of the
// whole table, at a fixed cost however full it is. A flood from millions
// of spoofed addresses churns through its own entries and keeps memory
// flat, while the counters of a real attacker in the middle of it survive,
// even when every spoofed packet earns a failure of its own.
type sourceTable struct {
	index map[srcKey]int32
	slots []sourceState
	last  int32 // slot of the last source looked up, or -1: sources come in runs
	// evictedActive counts sources forgotten while they still had
	// something pending: a flood wider than the table.
	evictedActive uint64
}

// evictSample is how many slots are compared to pick a victim.
const evictSample = 32

func newSourceTable(n int) *sourceTable {
	n = max(n, 16)
	return &sourceTable{index: make(map[srcKey]int32, n), slots: make([]sourceState, 0, n), last: -1}
}

func (t *sourceTable) len() int { return len(t.index) }

// find returns the state of k, or nil if it has none.
func (t *sourceTable) find(k srcKey) *sourceState {
	if i, ok := t.index[k]; ok {
		return &t.slots[i]
	}
	return nil
}

func (t *sourceTable) get(k srcKey, now int64, r *compiledRules) *sourceState {
	if t.last >= 0 && t.slots[t.last].key == k {
		s := &t.slots[t.last]
		s.ref = true
		return s
	}
	if i, ok := t.index[k]; ok {
		t.last = i
		s := &t.slots[i]
		s.ref = true
		return s
	}
	var i int
	if len(t.slots) < cap(t.slots) {
		t.slots = append(t.slots, sourceState{})
		i = len(t.slots) - 1
	} else {
		i = t.victim(now, r)
		delete(t.index, t.slots[i].key)
	}
	t.slots[i] = sourceState{key: k}
	t.index[k] = int32(i)
	t.last = int32(i)
	return &t.slots[i]
}

// failureCheck is one of a source's failure rate checks: its theoretical
// arrival time, its period and the failures it allows in a period.
type failureCheck struct {
	tat, period int64
	limit       int
}

// failureChecks lists the source's failure rate checks under r: REGISTER
// and INVITE a minute, any method an hour, and the slow-guessing bucket.
func (s *sourceState) failureChecks(r *compiledRules) [4]failureCheck {
	return [4]failureCheck{
		{s.registerTAT, int64(time.Minute), r.RegisterLimit},
		{s.inviteTAT, int64(time.Minute), r.InviteLimit},
		{s.hourlyTAT, int64(time.Hour), r.HourlyLimit},
		{s.guessTAT, int64(r.GuessPeriod), r.GuessLimit},
	}
}

// Tiers of the eviction order: a source in a lower tier is forgotten
// first. A ban is enforced by the kernel whether or not the engine
// remembers the source (only its refresh is lost), and spoofed packets
// can create bans cheaply, so banned sources go before the counters of
// sources that are not banned yet. Trust takes a real success to earn.
const (
	tierIdle     = iota // nothing pending
	tierBanned          // banned: the kernel holds the ban
	tierCounting        // failures counted, no ban yet
	tierTrusted         // registered or accepted by the PBX in the trust window
)

// worth ranks a source for eviction under r: the lowest is forgotten
// first. Within the counting tier, the closer a rule is to banning the
// source, the higher; a source seen again since it was last sampled ranks
// above one that was not.
func (s *sourceState) worth(now int64, r *compiledRules) uint64 {
	tier, closeness := uint64(tierIdle), uint64(0)
	switch {
	case s.bannedUntil > now:
		tier = tierBanned
	case s.authenticated(now):
		tier = tierTrusted
	default:
		for _, c := range s.failureChecks(r) {
			if c.tat > now {
				tier = tierCounting
				// The rate check's debt as a share of its period: 1<<20 is a ban.
				closeness = max(closeness, uint64(c.tat-now)<<20/uint64(c.period))
			}
		}
	}
	w := tier<<40 | min(closeness, 1<<38)<<1
	if s.ref {
		w |= 1
	}
	return w
}

// victim picks the slot to reuse: the one worth least among evictSample
// slots taken at random. Sampling clears the seen-again bit.
func (t *sourceTable) victim(now int64, r *compiledRules) int {
	n := len(t.slots)
	best, bestWorth := 0, ^uint64(0)
	for range evictSample {
		i := rand.IntN(n)
		s := &t.slots[i]
		w := s.worth(now, r)
		s.ref = false
		if w < bestWorth {
			best, bestWorth = i, w
			if w == 0 {
				break // idle and not seen again: nothing better to find
			}
		}
	}
	if bestWorth>>40 != tierIdle {
		t.evictedActive++
	}
	return best
}

func (t *sourceTable) remove(k srcKey) {
	i, ok := t.index[k]
	if !ok {
		return
	}
	delete(t.index, k)
	t.slots[i] = sourceState{} // an empty key no source maps to; reused by the clock
	t.last = -1
}

// transaction is a request remembered until its answer: who sent it,
// whether it carried credentials, and what to report if it leads to a ban.
type transaction struct {
	hash    uint64
	src     netip.Addr
	at      int64
	extHash uint64 // the account tried: the credentials' username, else the extension
	creds   bool
	agentN  uint8
	extN    uint8
	agentB  [40]byte
	extB    [24]byte
}

func (tx *transaction) agent() []byte     { return tx.agentB[:tx.agentN] }
func (tx *transaction) extension() string { return string(tx.extB[:tx.extN]) }

// txHash identifies a transaction by Call-ID, CSeq and its method, and the
// branch of the top Via, which a response carries unchanged.
func (e *Engine) txHash(m *Message) uint64 {
	h := e.wordHash(m.CallID)
	h = h*0x9e3779b97f4a7c15 ^ maphash.Bytes(e.seed, m.ViaBranch)
	h = h*0x9e3779b97f4a7c15 ^ maphash.Bytes(e.seed, m.MethodName)
	return h ^ uint64(m.CSeq)*0xbf58476d1ce4e5b9
}

// wordHash hashes a value that RFC 3261 makes a single word, such as a
// Call-ID, ignoring any blank or line fold in it: a request whose Call-ID
// is folded over two lines, and the PBX's answer that writes it on one,
// are the same transaction. An attacker cannot slip past the count that way.
func (e *Engine) wordHash(b []byte) uint64 {
	if !bytes.ContainsAny(b, " \t\r\n") {
		return maphash.Bytes(e.seed, b)
	}
	var h maphash.Hash
	h.SetSeed(e.seed)
	for len(b) > 0 {
		i := 0
		for i < len(b) && !isSpace(b[i]) {
			i++
		}
		h.Write(b[:i])
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		b = b[i:]
	}
	return h.Sum64()
}

func (e *Engine) remember(m *Message, src netip.Addr, t int64) *transaction {
	h := e.txHash(m)
	tx := &e.txs[h&(txSlots-1)]
	*tx = transaction{hash: h, src: src, at: t, creds: m.Credentials != NoCredentials}
	tx.agentN = uint8(copy(tx.agentB[:], m.UserAgent))
	ext := m.ToUser
	if m.Method == INVITE && m.URIUser != nil {
		ext = m.URIUser
	}
	tx.extN = uint8(copy(tx.extB[:], ext))
	// Trust is per account: a guess at one extension's password sent To
	// another is the account it names in its credentials.
	acct := ext
	if m.Credentials != NoCredentials && len(m.CredentialsUser) > 0 {
		acct = m.CredentialsUser
	}
	tx.extHash = maphash.Bytes(e.seed, acct)
	return tx
}

func (e *Engine) lookup(h uint64) *transaction {
	tx := &e.txs[h&(txSlots-1)]
	if tx.hash != h || tx.at == 0 {
		return nil
	}
	return tx
}

// parked is an answer that arrived before its request.
type parked struct {
	hash uint64
	dst  netip.Addr
	at   int64
	a    answer
}

// parkTime is how long an early answer waits for its request.
const parkTime = int64(time.Second)

func (e *Engine) park(h uint64, dst netip.Addr, a answer, t int64) {
	e.parked[h&(parkedSlots-1)] = parked{hash: h, dst: dst, at: t, a: a}
}

// unpark returns the answer waiting for the request with hash h from src.
func (e *Engine) unpark(h uint64, src netip.Addr, t int64) (answer, bool) {
	p := &e.parked[h&(parkedSlots-1)]
	if p.hash != h || p.dst != src || t-p.at > parkTime {
		return answer{}, false
	}
	a := p.a
	*p = parked{}
	return a, true
}

// extTable remembers, per extension, the last sources that registered it
// and the country it last registered from.
type extTable struct{ slots []extEntry }

// hijackSlots is how many sources an extension's entry keeps: the highest
// HijackSources.
const hijackSlots = 4

// countryMemory is how long an extension's last country is compared with
// the next registration's.
const countryMemory = int64(24 * time.Hour)

type extEntry struct {
	hash      uint64
	keys      [hijackSlots]srcKey
	at        [hijackSlots]int64
	country   [2]byte // of the last registration, zero when unknown
	countryAt int64
}

func newExtTable(n int) *extTable { return &extTable{slots: make([]extEntry, n)} }

// entry returns the entry of an extension, emptied if it held another.
func (t *extTable) entry(ext uint64) *extEntry {
	e := &t.slots[ext&uint64(len(t.slots)-1)]
	if e.hash != ext {
		*e = extEntry{hash: ext}
	}
	return e
}

// seen records a successful registration of an extension from a source and
// returns how many different sources registered it within window, and
// whether this source was not among them.
func (e *extEntry) seen(k srcKey, now, window int64) (n int, fresh bool) {
	slot, oldest := -1, 0
	for i := range e.keys {
		if e.at[i] != 0 && e.keys[i] == k {
			slot = i
			break
		}
		if e.at[i] < e.at[oldest] {
			oldest = i
		}
	}
	if slot < 0 || now-e.at[slot] > window {
		fresh = true
	}
	if slot < 0 {
		slot = oldest
	}
	e.keys[slot], e.at[slot] = k, now
	for i := range e.keys {
		if e.at[i] != 0 && now-e.at[i] <= window {
			n++
		}
	}
	return n, fresh
}

// forget drops a source from the extension's sources.
func (e *extEntry) forget(k srcKey) {
	for i := range e.keys {
		if e.keys[i] == k {
			e.keys[i], e.at[i] = srcKey{}, 0
		}
	}
}

// movedCountry records the country of a successful registration ("" when
// unknown) and reports whether the extension last registered, within
// countryMemory, from another known country.
func (e *extEntry) movedCountry(c string, now int64) bool {
	if len(c) != 2 {
		return false
	}
	cc := [2]byte{c[0], c[1]}
	moved := e.country != [2]byte{} && e.country != cc && now-e.countryAt <= countryMemory
	e.country, e.countryAt = cc, now
	return moved
}

// mix is a 64-bit finaliser (SplitMix64's): a seeded key hashes to a
// slot an outsider cannot predict.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// hash returns the key's hash under seed, without allocating.
func (k srcKey) hash(seed uint64) uint64 {
	h := mix(seed ^ binary.LittleEndian.Uint64(k.addr[:8]))
	h = mix(h ^ binary.LittleEndian.Uint64(k.addr[8:]))
	return mix(h ^ uint64(k.bits))
}

// Sizes of the set-associative tables: a key goes in one set of ways
// entries, and replaces the one worth least there.
const (
	ways      = 4
	trustSets = 1 << 10 // 4,096 (source, account) pairs
	netSets   = 1 << 10 // 4,096 networks
)

// trustTable holds the tolerance of each (source, account) pair of trusted
// sources: a fixed table, hash-indexed, that never grows. An entry lost
// to another pair is not given back: the account then counts as one that
// never succeeded from the source (the source's own bound on those), so
// losing an entry never buys tolerance.
type trustTable struct {
	sets [trustSets][ways]trustEntry
}

type trustEntry struct {
	check      uint64 // the pair's hash; 0: empty
	validUntil int64  // succeeded from the source, or tolerated as another account, until then
	tat        int64  // tolerated failures (a bucket of TrustedFailures per trust window)
	alerted    bool   // the current run of tolerated failures was reported
}

// find returns the entry of pair h, or nil.
func (t *trustTable) find(h uint64) *trustEntry {
	h |= 1 // 0 marks an empty entry
	set := &t.sets[h>>32&(trustSets-1)]
	for i := range set {
		if set[i].check == h {
			return &set[i]
		}
	}
	return nil
}

// add returns a new, empty entry for pair h, in place of the entry of its
// set that matters least: empty, then spent (no longer valid and its
// tolerance recovered), then the one whose validity ends first.
func (t *trustTable) add(h uint64, now int64) *trustEntry {
	h |= 1
	set := &t.sets[h>>32&(trustSets-1)]
	best := 0
	for i := range set {
		if set[i].check == 0 || max(set[i].validUntil, set[i].tat) <= now {
			best = i
			break
		}
		if set[i].validUntil < set[best].validUntil {
			best = i
		}
	}
	set[best] = trustEntry{check: h}
	return &set[best]
}

// pairHash is the hash of a (source, account) pair.
func (e *Engine) pairHash(k srcKey, acct uint64) uint64 {
	return mix(k.hash(e.salt) ^ acct)
}

// netTable counts the failures of sources that never authenticated per
// network: a fixed table, hash-indexed, that never grows.
type netTable struct {
	sets [netSets][ways]netEntry
	// bannedUntil is the end of the latest network ban: before it, a
	// request's network is looked up; after it, never.
	bannedUntil int64
}

type netEntry struct {
	key                    srcKey
	tat                    int64 // failures counted, a bucket of NetworkLimit per GuessPeriod
	bannedUntil, refreshed int64 // the whole network banned
	banFor                 time.Duration
	trustedUntil           int64     // a source in it authenticated: never banned whole
	sources                [3]uint32 // hashes of the first different sources that failed in the current run
	nsources               uint8
}

// distinct records a source's failure and returns how many different
// sources (at most 3) failed in the current run.
func (n *netEntry) distinct(src uint32) int {
	for i := range n.nsources {
		if n.sources[i] == src {
			return int(n.nsources)
		}
	}
	if int(n.nsources) < len(n.sources) {
		n.sources[n.nsources] = src
		n.nsources++
	}
	return int(n.nsources)
}

// get returns the entry of network k, adding it if create is set (in
// place of the entry of its set worth least: empty or idle, then banned,
// then the one with the fewest failures counted; a network holding an
// authenticated source last), else nil when it has none.
func (t *netTable) get(k srcKey, seed uint64, now int64, create bool) *netEntry {
	set := &t.sets[k.hash(seed)&(netSets-1)]
	for i := range set {
		if set[i].key == k {
			return &set[i]
		}
	}
	if !create {
		return nil
	}
	best, bestWorth := 0, ^uint64(0)
	for i := range set {
		if w := set[i].worth(now); w < bestWorth {
			best, bestWorth = i, w
		}
	}
	set[best] = netEntry{key: k}
	return &set[best]
}

// worth ranks a network entry for replacement, as sourceState.worth ranks
// sources.
func (n *netEntry) worth(now int64) uint64 {
	switch {
	case n.key.bits == 0:
		return 0
	case n.trustedUntil > now:
		return tierTrusted << 40
	case n.bannedUntil > now:
		return tierBanned << 40
	case n.tat > now:
		return tierCounting<<40 | uint64(min(n.tat-now, 1<<39))
	}
	return 1
}
