package netfilter

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"

	"github.com/google/nftables"
)

// An interval set holds ranges of addresses. The kernel stores a range as
// two elements: its first address, and the address after its last one
// flagged as an interval end. Ranges must not overlap, so every list is
// sorted and merged here before it reaches the kernel.
//
// Addresses are kept as plain integers (8 bytes a range for IPv4) so that a
// million-entry feed costs megabytes, not the hundreds of megabytes a slice
// of netip.Prefix or nftables.SetElement would.

// span is an inclusive range of addresses.
type span[K comparable] struct{ lo, hi K }

type span4 = span[uint32]
type span6 = span[u128]

// u128 is an IPv6 address as a 128-bit big-endian integer.
type u128 struct{ hi, lo uint64 }

func cmp4(a, b uint32) int { return compareOrdered(a, b) }

func cmp6(a, b u128) int {
	if c := compareOrdered(a.hi, b.hi); c != 0 {
		return c
	}
	return compareOrdered(a.lo, b.lo)
}

func compareOrdered[T uint16 | uint32 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func succ4(a uint32) (uint32, bool) { return a + 1, a != math.MaxUint32 }

func succ6(a u128) (u128, bool) {
	if a.lo != math.MaxUint64 {
		return u128{a.hi, a.lo + 1}, true
	}
	return u128{a.hi + 1, 0}, a.hi != math.MaxUint64
}

// merge sorts s and merges overlapping and adjacent ranges, in place.
func merge[K comparable](s []span[K], cmp func(a, b K) int, succ func(K) (K, bool)) []span[K] {
	slices.SortFunc(s, func(a, b span[K]) int { return cmp(a.lo, b.lo) })
	out := s[:0]
	for _, r := range s {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if next, ok := succ(last.hi); !ok || cmp(r.lo, next) <= 0 {
				if cmp(r.hi, last.hi) > 0 {
					last.hi = r.hi
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// spanOf4 and spanOf6 turn a prefix of their family into a range.
func spanOf4(p netip.Prefix) span4 {
	a := p.Masked().Addr().As4()
	lo := binary.BigEndian.Uint32(a[:])
	host := uint32(math.MaxUint32)
	if b := p.Bits(); b > 0 {
		host = uint32(1)<<(32-b) - 1
	}
	return span4{lo, lo | host}
}

func spanOf6(p netip.Prefix) span6 {
	a := p.Masked().Addr().As16()
	lo := u128{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])}
	bits := p.Bits()
	var host u128
	switch {
	case bits == 0:
		host = u128{math.MaxUint64, math.MaxUint64}
	case bits < 64:
		host = u128{uint64(1)<<(64-bits) - 1, math.MaxUint64}
	case bits < 128:
		host = u128{0, uint64(1)<<(128-bits) - 1}
	}
	return span6{lo, u128{lo.hi | host.hi, lo.lo | host.lo}}
}

// spanLists collects prefixes of both families as merged ranges.
type spanLists struct {
	v4 []span4
	v6 []span6
}

// add appends one prefix; IPv4-mapped IPv6 prefixes count as IPv4.
func (l *spanLists) add(p netip.Prefix) {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if p.Addr().Is4() {
		l.v4 = append(l.v4, spanOf4(p))
	} else {
		l.v6 = append(l.v6, spanOf6(p))
	}
}

func (l *spanLists) merge() {
	l.v4 = merge(l.v4, cmp4, succ4)
	l.v6 = merge(l.v6, cmp6, succ6)
}

// splitHosts separates single addresses from ranges of merged spans.
func splitHosts[K comparable](spans []span[K]) (nets []span[K], hosts []K) {
	for _, s := range spans {
		if s.lo == s.hi {
			hosts = append(hosts, s.lo)
		} else {
			nets = append(nets, s)
		}
	}
	return nets, hosts
}

// hostElement returns an element builder for a hash set of addresses.
func hostElement[K any](key func(K) []byte) func([]nftables.SetElement, K) []nftables.SetElement {
	return func(dst []nftables.SetElement, k K) []nftables.SetElement {
		return append(dst, nftables.SetElement{Key: key(k)})
	}
}

// hostElements returns the elements of a hash set of addresses.
func hostElements[K any](hosts []K, key func(K) []byte) []nftables.SetElement {
	out := make([]nftables.SetElement, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, nftables.SetElement{Key: key(h)})
	}
	return out
}

func spansOf(prefixes []netip.Prefix) spanLists {
	var l spanLists
	for _, p := range prefixes {
		l.add(p)
	}
	l.merge()
	return l
}

func key4(a uint32) []byte { return binary.BigEndian.AppendUint32(nil, a) }

func key6(a u128) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 16), a.hi)
	return binary.BigEndian.AppendUint64(b, a.lo)
}

// elements appends the kernel elements of a range: its start and, unless it
// runs to the last address, the interval end after it.
func elements[K comparable](dst []nftables.SetElement, s span[K], key func(K) []byte, succ func(K) (K, bool)) []nftables.SetElement {
	dst = append(dst, nftables.SetElement{Key: key(s.lo)})
	if end, ok := succ(s.hi); ok {
		dst = append(dst, nftables.SetElement{Key: key(end), IntervalEnd: true})
	}
	return dst
}

func elements4(dst []nftables.SetElement, s span4) []nftables.SetElement {
	return elements(dst, s, key4, succ4)
}

func elements6(dst []nftables.SetElement, s span6) []nftables.SetElement {
	return elements(dst, s, key6, succ6)
}

func parse6(b []byte) (u128, bool) {
	if len(b) != 16 {
		return u128{}, false
	}
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}, true
}

func addr6(a u128) netip.Addr { return netip.AddrFrom16([16]byte(key6(a))) }
