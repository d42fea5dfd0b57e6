package sip

import (
	"bytes"
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
	trustedUntil                                int64  // known-good after a successful registration
	answeredUntil                               int64  // the PBX accepted a registration or a call from it
	agentHash                                   uint64 // the last User-Agent found clean, salted by the rules
	bannedUntil, refreshed                      int64
	heldUntil                                   int64 // held in the kernel, one failure away from a ban
	banFor                                      time.Duration
	trustedFailures                             uint16
	ref                                         bool
	framed                                      bool // a scanner packet was ignored while answered; alerted once
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

func (t *sourceTable) get(k srcKey, now int64) *sourceState {
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
		i = t.victim(now)
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

// failureChecks lists the source's failure rate checks: REGISTER and
// INVITE a minute, any method an hour. The limits come from r; nil leaves
// them out.
func (s *sourceState) failureChecks(r *compiledRules) [3]failureCheck {
	c := [3]failureCheck{{s.registerTAT, int64(time.Minute), 0}, {s.inviteTAT, int64(time.Minute), 0}, {s.hourlyTAT, int64(time.Hour), 0}}
	if r != nil {
		c[0].limit, c[1].limit, c[2].limit = r.RegisterLimit, r.InviteLimit, r.HourlyLimit
	}
	return c
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

// worth ranks a source for eviction: the lowest is forgotten first. Within
// the counting tier, the closer a rule is to banning the source, the
// higher; a source seen again since it was last sampled ranks above one
// that was not.
func (s *sourceState) worth(now int64) uint64 {
	tier, closeness := uint64(tierIdle), uint64(0)
	switch {
	case s.bannedUntil > now:
		tier = tierBanned
	case s.trustedUntil > now || s.answeredUntil > now:
		tier = tierTrusted
	default:
		for _, c := range s.failureChecks(nil) {
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
func (t *sourceTable) victim(now int64) int {
	n := len(t.slots)
	best, bestWorth := 0, ^uint64(0)
	for range evictSample {
		i := rand.IntN(n)
		s := &t.slots[i]
		w := s.worth(now)
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
	extHash uint64
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
	tx.extHash = maphash.Bytes(e.seed, ext)
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

// extTable remembers, per extension, the last sources that registered it.
type extTable struct{ slots []extEntry }

type extEntry struct {
	hash uint64
	keys [4]srcKey
	at   [4]int64
}

func newExtTable(n int) *extTable { return &extTable{slots: make([]extEntry, n)} }

// seen records a successful registration of an extension from a source and
// returns how many different sources registered it within window.
func (t *extTable) seen(ext uint64, k srcKey, now, window int64) int {
	e := &t.slots[ext&uint64(len(t.slots)-1)]
	if e.hash != ext {
		*e = extEntry{hash: ext}
	}
	oldest := 0
	for i := range e.keys {
		if e.keys[i] == k || e.at[i] == 0 {
			oldest = i
			break
		}
		if e.at[i] < e.at[oldest] {
			oldest = i
		}
	}
	e.keys[oldest], e.at[oldest] = k, now
	n := 0
	for i := range e.keys {
		if e.at[i] != 0 && now-e.at[i] <= window {
			n++
		}
	}
	return n
}
