package feeds

import (
	"cmp"
	"iter"
	"net/netip"
	"slices"
)

// list is the content of one feed: sorted, without duplicates and without
// networks that another entry already covers. IPv4 entries are packed as
// address<<8 | prefix length (8 bytes each); IPv6 entries are rare and kept
// as 17 significant bytes.
type list struct {
	v4 []uint64
	v6 []pfx6
}

// pfx6 is an IPv6 network: the address as two 64-bit halves and its length.
type pfx6 struct {
	hi, lo uint64
	bits   uint8
}

func v4key(addr uint32, bits int) uint64 { return uint64(addr)<<8 | uint64(bits) }

func v4prefix(k uint64) netip.Prefix {
	a := uint32(k >> 8)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), int(k&0xff))
}

// v4last is the last address a packed IPv4 network covers.
func v4last(k uint64) uint32 {
	a, bits := uint32(k>>8), k&0xff
	if bits == 0 {
		return ^uint32(0)
	}
	return a | (^uint32(0) >> bits)
}

func (p pfx6) prefix() netip.Prefix {
	var b [16]byte
	for i := range 8 {
		b[i] = byte(p.hi >> (56 - 8*i))
		b[8+i] = byte(p.lo >> (56 - 8*i))
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), int(p.bits))
}

func pfx6From(p netip.Prefix) pfx6 {
	b := p.Addr().As16()
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return pfx6{hi: hi, lo: lo, bits: uint8(p.Bits())}
}

// last is the last address p covers, as two halves.
func (p pfx6) last() (hi, lo uint64) {
	switch {
	case p.bits == 0:
		return ^uint64(0), ^uint64(0)
	case p.bits < 64:
		return p.hi | ^uint64(0)>>p.bits, ^uint64(0)
	case p.bits < 128:
		return p.hi, p.lo | ^uint64(0)>>(p.bits-64)
	}
	return p.hi, p.lo
}

func cmp6(a, b pfx6) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	if c := cmp.Compare(a.lo, b.lo); c != 0 {
		return c
	}
	return cmp.Compare(a.bits, b.bits)
}

// le6 tells whether address (ahi, alo) is at or before (bhi, blo).
func le6(ahi, alo, bhi, blo uint64) bool {
	return ahi < bhi || ahi == bhi && alo <= blo
}

// normalize sorts the list and removes duplicates and covered networks, in
// place. Two prefixes either nest or are disjoint, so after sorting by
// address and then length an entry that starts inside the last kept one is
// inside it.
func (l *list) normalize() {
	slices.Sort(l.v4)
	out := l.v4[:0]
	var end uint32
	for _, k := range l.v4 {
		if len(out) > 0 && uint32(k>>8) <= end {
			continue
		}
		out = append(out, k)
		end = v4last(k)
	}
	l.v4 = slices.Clip(out)

	slices.SortFunc(l.v6, cmp6)
	out6 := l.v6[:0]
	var ehi, elo uint64
	for _, p := range l.v6 {
		if len(out6) > 0 && le6(p.hi, p.lo, ehi, elo) {
			continue
		}
		out6 = append(out6, p)
		ehi, elo = p.last()
	}
	l.v6 = slices.Clip(out6)
}

// merged yields the union of lists in address order (IPv4 first), without
// duplicates and covered networks. The lists must be normalized and must not
// change while the sequence runs.
func merged(lists []*list) iter.Seq[netip.Prefix] {
	return func(yield func(netip.Prefix) bool) {
		pos := make([]int, len(lists))
		started := false
		var end uint32
		for {
			best := -1
			for i, l := range lists {
				if pos[i] < len(l.v4) && (best < 0 || l.v4[pos[i]] < lists[best].v4[pos[best]]) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			k := lists[best].v4[pos[best]]
			pos[best]++
			if started && uint32(k>>8) <= end {
				continue
			}
			started, end = true, v4last(k)
			if !yield(v4prefix(k)) {
				return
			}
		}
		clear(pos)
		started = false
		var ehi, elo uint64
		for {
			best := -1
			for i, l := range lists {
				if pos[i] < len(l.v6) && (best < 0 || cmp6(l.v6[pos[i]], lists[best].v6[pos[best]]) < 0) {
					best = i
				}
			}
			if best < 0 {
				return
			}
			p := lists[best].v6[pos[best]]
			pos[best]++
			if started && le6(p.hi, p.lo, ehi, elo) {
				continue
			}
			started = true
			ehi, elo = p.last()
			if !yield(p.prefix()) {
				return
			}
		}
	}
}
