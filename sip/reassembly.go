package sip

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"net/netip"
	"time"
)

// Reassembler puts IP datagrams back together from their fragments, as
// the receiving host's kernel does, so that the box reads the message the
// PBX reads: IPv4 datagrams are told apart by source, destination,
// protocol and Identification, IPv6 ones by source, destination and the
// fragment header's Identification (and both by VLAN).
//
// It follows Linux's rules (net/ipv4/ip_fragment.c, inet_fragment.c), so
// that an attacker who overlaps fragments cannot show the box a message
// other than the one a Linux PBX reassembles:
//
//   - a fragment whose data the datagram already holds in full is a
//     duplicate: it is dropped and the first copy kept (counted as a
//     conflict when its bytes differ);
//   - a fragment that partly overlaps data already held discards the whole
//     datagram, IPv4 as IPv6 (RFC 5722);
//   - a last fragment that disagrees with the known length, data past the
//     end, an empty fragment, or a datagram over 65,535 bytes discards the
//     datagram; a non-last fragment is cut to a multiple of 8 bytes (IPv4)
//     or discards the datagram (IPv6);
//   - a datagram not complete within the timeout (30 s for IPv4, 60 s for
//     IPv6, from its first fragment) is given up.
//
// Memory is fixed when the first fragment arrives: a table of at most
// MaxDatagrams datagrams in progress and an arena of MaxBytes, handed out
// in pages of 2 KB (a page is held for any fragment data in it, as the
// kernel counts a buffer's true size). When either is full, the oldest
// datagram is given up. Every give-up is counted (ReassemblyStats).
//
// A Reassembler is not safe for concurrent use: give each capture worker
// its own.
type Reassembler struct {
	cfg   ReassemblyConfig
	stats ReassemblyStats

	slots          []fragQueue // datagrams in progress; slot 0 is unused
	free           []int32     // free slot indices
	index          []int32     // open-addressing hash table of slot indices, 0 = empty
	seed           maphash.Seed
	oldest, newest int32 // slots in the order they were created

	arena []byte  // the pages
	pages []int32 // free page indices

	out    []byte // the datagram handed on, valid until the next Add
	packet Packet
}

// ReassemblyConfig bounds a Reassembler. Zero fields take the defaults.
type ReassemblyConfig struct {
	// MaxDatagrams is the most datagrams in progress at once (default
	// 256).
	MaxDatagrams int
	// MaxBytes is the memory for fragment data (default 4 MB, Linux's
	// ipfrag_high_thresh); at least 128 KB.
	MaxBytes int
	// Timeout4 and Timeout6 are how long a datagram may take to complete
	// from its first fragment (defaults 30 s and 60 s, Linux's ipfrag_time
	// and ip6frag_time).
	Timeout4, Timeout6 time.Duration
}

// ReassemblyStats counts what the reassembler did and each cause for
// giving up a datagram.
type ReassemblyStats struct {
	Fragments   uint64 // fragments taken
	Reassembled uint64 // datagrams completed and handed on
	Duplicates  uint64 // fragments whose data was already held, dropped
	Conflicts   uint64 // of those, fragments whose bytes differed from the first copy
	Timeouts    uint64 // datagrams given up: not complete within the timeout
	Evicted     uint64 // datagrams given up to make room (table or memory full)
	Overlaps    uint64 // datagrams discarded: a fragment partly overlapped data held
	TooBig      uint64 // datagrams discarded: over 65,535 bytes
	Malformed   uint64 // datagrams discarded: inconsistent lengths, too many holes, bad transport header
}

// Reasons Add gives for discarding a datagram, fixed values so that
// returning one does not allocate.
var (
	ErrFragOverlap   = errors.New("sip: IP fragment overlaps data already held: datagram discarded")
	ErrFragTooBig    = errors.New("sip: reassembled datagram over 65535 bytes: discarded")
	ErrFragMalformed = errors.New("sip: inconsistent IP fragment: datagram discarded")
	ErrFragDatagram  = errors.New("sip: reassembled datagram has no readable UDP or TCP header")
)

// Defaults of ReassemblyConfig.
const (
	DefaultFragDatagrams = 256
	DefaultFragBytes     = 4 << 20
	DefaultFragTimeout4  = 30 * time.Second
	DefaultFragTimeout6  = 60 * time.Second
)

const (
	fragPageShift = 11
	fragPageSize  = 1 << fragPageShift           // bytes of fragment data per page
	fragPages     = (1 << 16) / fragPageSize     // pages that cover a 64 KB datagram
	fragMaxSpans  = 64                           // disjoint runs of data held per datagram
	maxDatagram   = 65535                        // IP's limit, headers included
	minFragBytes  = 2 * fragPages * fragPageSize // room for a datagram beside another
)

type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8 // IPv4 only: IPv6 keys its datagrams without it
	vlan     uint16
}

// span is a run of data held, [start, end) in the datagram's payload.
type span struct{ start, end uint32 }

// fragQueue is one datagram in progress.
type fragQueue struct {
	key        fragKey
	deadline   int64  // unix nanoseconds
	total      uint32 // payload length, known from the last fragment
	last       bool   // the last fragment arrived
	proto      uint8  // what the payload starts with (IPv6: from the first fragment)
	nspans     int
	spans      [fragMaxSpans]span
	pages      [fragPages]int32 // page index + 1 for each 2 KB of payload, 0 = none yet
	prev, next int32            // creation order
}

// NewReassembler returns a reassembler bounded by cfg. Its memory is
// taken when the first fragment arrives, so a box that never sees one
// never pays for it.
func NewReassembler(cfg ReassemblyConfig) *Reassembler {
	if cfg.MaxDatagrams <= 0 {
		cfg.MaxDatagrams = DefaultFragDatagrams
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultFragBytes
	}
	cfg.MaxBytes = max(cfg.MaxBytes, minFragBytes)
	if cfg.Timeout4 <= 0 {
		cfg.Timeout4 = DefaultFragTimeout4
	}
	if cfg.Timeout6 <= 0 {
		cfg.Timeout6 = DefaultFragTimeout6
	}
	return &Reassembler{cfg: cfg, seed: maphash.MakeSeed()}
}

// Stats returns the counters.
func (r *Reassembler) Stats() ReassemblyStats { return r.stats }

// InProgress returns the number of datagrams waiting for fragments and
// the bytes of arena they hold.
func (r *Reassembler) InProgress() (datagrams, bytes int) {
	if r.slots == nil {
		return 0, 0
	}
	return len(r.slots) - 1 - len(r.free), len(r.arena) - len(r.pages)*fragPageSize
}

func (r *Reassembler) init() {
	n := r.cfg.MaxDatagrams
	r.slots = make([]fragQueue, n+1)
	r.free = make([]int32, 0, n)
	for i := n; i >= 1; i-- {
		r.free = append(r.free, int32(i))
	}
	size := 1
	for size < 2*n {
		size <<= 1
	}
	r.index = make([]int32, size)
	npages := r.cfg.MaxBytes / fragPageSize
	r.arena = make([]byte, npages*fragPageSize)
	r.pages = make([]int32, 0, npages)
	for i := npages - 1; i >= 0; i-- {
		r.pages = append(r.pages, int32(i))
	}
	r.out = make([]byte, 1<<16)
}

// Add takes a fragment that Decode read into p (returning ErrFragment).
// When the fragment completes its datagram, Add returns the datagram as a
// Packet whose Payload is the whole UDP payload (or TCP segment); the
// Packet and its Payload are valid until the next call. Otherwise it
// returns nil, and an error when the fragment made it discard the
// datagram (ErrFragOverlap, ErrFragTooBig, ErrFragMalformed) or the
// reassembled datagram could not be read (ErrFragDatagram). Datagrams
// past their timeout are given up on the way.
func (r *Reassembler) Add(now time.Time, p *Packet) (*Packet, error) {
	if r.slots == nil {
		r.init()
	}
	r.stats.Fragments++
	t := now.UnixNano()
	r.expire(t)

	f := &p.Frag
	v4 := p.Src.Is4()
	k := fragKey{src: p.Src, dst: p.Dst, id: f.ID, vlan: p.VLAN}
	if v4 {
		k.proto = f.Proto
	}
	start, end := uint32(f.Offset), uint32(f.Offset)+uint32(len(f.Data))
	if f.More && end&7 != 0 {
		if !v4 {
			return r.refuse(k, &r.stats.Malformed, ErrFragMalformed)
		}
		end &^= 7 // as Linux does with IPv4
	}
	if end+uint32(f.Header) > maxDatagram {
		return r.refuse(k, &r.stats.TooBig, ErrFragTooBig)
	}

	i := r.lookup(k)
	if i == 0 {
		if end == start {
			r.stats.Malformed++
			return nil, ErrFragMalformed
		}
		i = r.create(k, t, v4)
	}
	q := &r.slots[i]
	switch {
	case !f.More:
		if end < q.total || (q.last && end != q.total) {
			return r.discard(i, &r.stats.Malformed, ErrFragMalformed)
		}
		q.last, q.total = true, end
	case end > q.total:
		if q.last {
			return r.discard(i, &r.stats.Malformed, ErrFragMalformed)
		}
		q.total = end
	}
	if end == start {
		return r.discard(i, &r.stats.Malformed, ErrFragMalformed)
	}
	data := f.Data[:end-start]
	switch q.place(start, end) {
	case placeDuplicate:
		r.stats.Duplicates++
		if !r.equal(q, start, data) {
			r.stats.Conflicts++
		}
		return nil, nil
	case placeOverlap:
		return r.discard(i, &r.stats.Overlaps, ErrFragOverlap)
	case placeFull:
		return r.discard(i, &r.stats.Malformed, ErrFragMalformed)
	}
	if !r.reserve(i, start, end) {
		// The arena is smaller than one datagram: cannot happen with
		// MaxBytes at its minimum, but never write without a page.
		return r.discard(i, &r.stats.Evicted, nil)
	}
	q = &r.slots[i] // reserve may have evicted others, never i
	r.write(q, start, data)
	q.insert(start, end)
	if start == 0 {
		q.proto = f.Proto
	}
	if !q.last || q.nspans != 1 || q.spans[0].start != 0 || q.spans[0].end != q.total {
		return nil, nil
	}
	return r.complete(i)
}

// refuse counts a fragment that cannot belong to any datagram and
// discards the datagram it names, if one is in progress.
func (r *Reassembler) refuse(k fragKey, counter *uint64, err error) (*Packet, error) {
	if i := r.lookup(k); i != 0 {
		return r.discard(i, counter, err)
	}
	*counter++
	return nil, err
}

// discard gives up datagram i, counting why.
func (r *Reassembler) discard(i int32, counter *uint64, err error) (*Packet, error) {
	*counter++
	r.release(i)
	return nil, err
}

// complete hands on datagram i, which has all its data.
func (r *Reassembler) complete(i int32) (*Packet, error) {
	q := &r.slots[i]
	total := int(q.total)
	for off := 0; off < total; off += fragPageSize {
		copy(r.out[off:min(off+fragPageSize, total)], r.page(q.pages[off>>fragPageShift]))
	}
	k, proto := q.key, q.proto
	r.release(i)
	p := &r.packet
	*p = Packet{}
	b := r.out[:total]
	var err error
	if k.src.Is4() {
		err = decodeTransport(proto, b, p)
	} else {
		err = decodeIPv6Chain(proto, b, p)
	}
	if err == nil && p.Proto == ProtoUDP {
		// The UDP length covers the whole datagram: longer is a short
		// datagram the receiver drops, shorter is trimmed (as Linux does).
		if n := int(binary.BigEndian.Uint16(b[4:6])); n < 8 || n > total {
			err = ErrFragDatagram
		}
	}
	if errors.Is(err, ErrNotUDPTCP) {
		return nil, err // a whole datagram, just not one the box reads
	}
	if err != nil {
		r.stats.Malformed++
		return nil, ErrFragDatagram
	}
	p.Src, p.Dst, p.VLAN = k.src, k.dst, k.vlan
	r.stats.Reassembled++
	return p, nil
}

func (r *Reassembler) page(ref int32) []byte {
	off := int(ref-1) * fragPageSize
	return r.arena[off : off+fragPageSize]
}

// reserve makes sure datagram i has pages for [start, end), taking them
// from the oldest other datagrams when the arena is full.
func (r *Reassembler) reserve(i int32, start, end uint32) bool {
	q := &r.slots[i]
	for pg := start >> fragPageShift; pg <= (end-1)>>fragPageShift; pg++ {
		if q.pages[pg] != 0 {
			continue
		}
		for len(r.pages) == 0 {
			victim := r.oldest
			if victim == i {
				victim = r.slots[i].next
			}
			if victim == 0 {
				return false
			}
			r.stats.Evicted++
			r.release(victim)
		}
		q.pages[pg] = r.pages[len(r.pages)-1] + 1
		r.pages = r.pages[:len(r.pages)-1]
	}
	return true
}

// write copies data to offset start of datagram q's pages.
func (r *Reassembler) write(q *fragQueue, start uint32, data []byte) {
	for len(data) > 0 {
		pg := r.page(q.pages[start>>fragPageShift])
		n := copy(pg[start&(fragPageSize-1):], data)
		data, start = data[n:], start+uint32(n)
	}
}

// equal reports whether datagram q holds data at offset start.
func (r *Reassembler) equal(q *fragQueue, start uint32, data []byte) bool {
	for len(data) > 0 {
		pg := r.page(q.pages[start>>fragPageShift])[start&(fragPageSize-1):]
		n := min(len(pg), len(data))
		if string(pg[:n]) != string(data[:n]) {
			return false
		}
		data, start = data[n:], start+uint32(n)
	}
	return true
}

const (
	placeNew = iota
	placeDuplicate
	placeOverlap
	placeFull
)

// place tells where [start, end) falls among the data held.
func (q *fragQueue) place(start, end uint32) int {
	for _, s := range q.spans[:q.nspans] {
		switch {
		case end <= s.start || start >= s.end:
		case start >= s.start && end <= s.end:
			return placeDuplicate
		default:
			return placeOverlap
		}
	}
	if q.nspans == fragMaxSpans {
		return placeFull // merging may not free a span: be safe
	}
	return placeNew
}

// insert records [start, end), which overlaps nothing held, merging it
// with the runs it touches. The spans stay sorted.
func (q *fragQueue) insert(start, end uint32) {
	at := 0
	for at < q.nspans && q.spans[at].end < start {
		at++
	}
	// spans[at] is the first that ends at or after start.
	if at < q.nspans && q.spans[at].end == start {
		q.spans[at].end = end
		if at+1 < q.nspans && q.spans[at+1].start == end {
			q.spans[at].end = q.spans[at+1].end
			copy(q.spans[at+1:], q.spans[at+2:q.nspans])
			q.nspans--
		}
		return
	}
	if at < q.nspans && q.spans[at].start == end {
		q.spans[at].start = start
		return
	}
	copy(q.spans[at+1:q.nspans+1], q.spans[at:q.nspans])
	q.spans[at] = span{start, end}
	q.nspans++
}

// create takes a slot for a new datagram, giving up the oldest when the
// table is full.
func (r *Reassembler) create(k fragKey, t int64, v4 bool) int32 {
	if len(r.free) == 0 {
		r.stats.Evicted++
		r.release(r.oldest)
	}
	i := r.free[len(r.free)-1]
	r.free = r.free[:len(r.free)-1]
	timeout := r.cfg.Timeout6
	if v4 {
		timeout = r.cfg.Timeout4
	}
	q := &r.slots[i]
	*q = fragQueue{key: k, deadline: t + int64(timeout), prev: r.newest}
	if r.newest != 0 {
		r.slots[r.newest].next = i
	} else {
		r.oldest = i
	}
	r.newest = i
	r.hashInsert(i)
	return i
}

// release frees slot i and its pages.
func (r *Reassembler) release(i int32) {
	q := &r.slots[i]
	for _, pg := range q.pages {
		if pg != 0 {
			r.pages = append(r.pages, pg-1)
		}
	}
	if q.prev != 0 {
		r.slots[q.prev].next = q.next
	} else {
		r.oldest = q.next
	}
	if q.next != 0 {
		r.slots[q.next].prev = q.prev
	} else {
		r.newest = q.prev
	}
	r.hashDelete(i)
	r.free = append(r.free, i)
}

// expire gives up the datagrams past their deadline. Timeouts differ by
// family, so a younger IPv4 datagram may expire behind an older IPv6 one:
// the walk goes on past those still waiting, a few at most.
func (r *Reassembler) expire(t int64) {
	for i, seen := r.oldest, 0; i != 0 && seen < 8; seen++ {
		next := r.slots[i].next
		if r.slots[i].deadline <= t {
			r.stats.Timeouts++
			r.release(i)
			seen--
		}
		i = next
	}
}

func (r *Reassembler) hash(k *fragKey) uint64 {
	var b [16 + 16 + 4 + 1 + 2]byte
	s, d := k.src.As16(), k.dst.As16()
	copy(b[0:16], s[:])
	copy(b[16:32], d[:])
	binary.LittleEndian.PutUint32(b[32:36], k.id)
	b[36] = k.proto
	binary.LittleEndian.PutUint16(b[37:39], k.vlan)
	return maphash.Bytes(r.seed, b[:])
}

func (r *Reassembler) lookup(k fragKey) int32 {
	mask := uint64(len(r.index) - 1)
	for h := r.hash(&k) & mask; ; h = (h + 1) & mask {
		i := r.index[h]
		if i == 0 {
			return 0
		}
		if r.slots[i].key == k {
			return i
		}
	}
}

func (r *Reassembler) hashInsert(i int32) {
	mask := uint64(len(r.index) - 1)
	h := r.hash(&r.slots[i].key) & mask
	for r.index[h] != 0 {
		h = (h + 1) & mask
	}
	r.index[h] = i
}

// hashDelete removes slot i from the table, moving back the entries
// after it in its probe run (linear probing without tombstones).
func (r *Reassembler) hashDelete(i int32) {
	mask := uint64(len(r.index) - 1)
	h := r.hash(&r.slots[i].key) & mask
	for r.index[h] != i {
		h = (h + 1) & mask
	}
	r.index[h] = 0
	for j := (h + 1) & mask; r.index[j] != 0; j = (j + 1) & mask {
		home := r.hash(&r.slots[r.index[j]].key) & mask
		// Move entry j back to h unless its home lies cyclically in (h, j].
		if (j > h && (home <= h || home > j)) || (j < h && home <= h && home > j) {
			r.index[h], r.index[j] = r.index[j], 0
			h = j
		}
	}
}
