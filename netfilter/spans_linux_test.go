package netfilter

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/nftables"
)

func TestSpansMergeOverlapsAndNeighbours(t *testing.T) {
	l := spansOf(mustPrefixes(
		"203.0.113.0/25", "203.0.113.128/25", // adjacent: one range
		"198.51.100.7", "198.51.100.0/24", // contained
		"192.0.2.255", "192.0.2.254/31", // overlapping
		"2001:db8::/33", "2001:db8:8000::/33", // adjacent IPv6
		"::ffff:192.0.2.1", // IPv4-mapped counts as IPv4
	))
	want4 := []span4{
		{spanOf4(mustPrefixes("192.0.2.1")[0]).lo, spanOf4(mustPrefixes("192.0.2.1")[0]).hi},
		spanOf4(mustPrefixes("192.0.2.254/31")[0]),
		spanOf4(mustPrefixes("198.51.100.0/24")[0]),
		spanOf4(mustPrefixes("203.0.113.0/24")[0]),
	}
	if !slices.Equal(l.v4, want4) {
		t.Errorf("v4 = %v, want %v", l.v4, want4)
	}
	if want6 := []span6{spanOf6(mustPrefixes("2001:db8::/32")[0])}; !slices.Equal(l.v6, want6) {
		t.Errorf("v6 = %v, want %v", l.v6, want6)
	}
}

func TestSpanEdges(t *testing.T) {
	all4 := spanOf4(mustPrefixes("0.0.0.0/0")[0])
	if all4.lo != 0 || all4.hi != 0xffffffff {
		t.Errorf("0.0.0.0/0 = %v", all4)
	}
	// A range that runs to the last address has no interval-end element.
	if e := elements4(nil, all4); len(e) != 1 || e[0].IntervalEnd {
		t.Errorf("elements of 0.0.0.0/0 = %+v, want one start element", e)
	}
	all6 := spanOf6(mustPrefixes("::/0")[0])
	if e := elements6(nil, all6); len(e) != 1 {
		t.Errorf("elements of ::/0 = %+v", e)
	}
	p := spanOf6(mustPrefixes("2001:db8:bad:1::/64")[0])
	if got := addr6(p.hi); got != netip.MustParseAddr("2001:db8:bad:1:ffff:ffff:ffff:ffff") {
		t.Errorf("last address of the /64 = %v", got)
	}
	if e := elements6(nil, p); len(e) != 2 || addr6(mustParse6(t, e[1].Key)) != netip.MustParseAddr("2001:db8:bad:2::") || !e[1].IntervalEnd {
		t.Errorf("elements of a /64 = %+v", e)
	}
}

func mustParse6(t *testing.T, b []byte) u128 {
	v, ok := parse6(b)
	if !ok {
		t.Fatalf("not an IPv6 key: %x", b)
	}
	return v
}

// TestIntervalsRoundTrip checks that kernel elements, listed in any order,
// pair back into the ranges they were made from.
func TestIntervalsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var prefixes []netip.Prefix
	for range 500 {
		a := netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), 0})
		prefixes = append(prefixes, netip.PrefixFrom(a, 16+rng.IntN(17)).Masked())
	}
	prefixes = append(prefixes, netip.MustParsePrefix("255.255.255.0/24"))
	l := spansOf(prefixes)
	var elems []nftables.SetElement
	for _, s := range l.v4 {
		elems = elements4(elems, s)
	}
	rng.Shuffle(len(elems), func(i, j int) { elems[i], elems[j] = elems[j], elems[i] })
	got := intervalsOf(elems)
	if len(got) != len(l.v4) {
		t.Fatalf("%d intervals back from %d ranges", len(got), len(l.v4))
	}
	for _, s := range l.v4 {
		var want []nftables.SetElement
		want = elements4(want, s)
		iv := interval{start: string(want[0].Key)}
		if len(want) == 2 {
			iv.end = string(want[1].Key)
		}
		if !got[iv] {
			t.Errorf("range %v missing after the round trip", s)
		}
	}
	// Every address of every prefix falls in exactly one merged range.
	for _, p := range prefixes {
		s := spanOf4(p)
		i, found := slices.BinarySearchFunc(l.v4, s.lo, func(r span4, a uint32) int {
			switch {
			case r.hi < a:
				return -1
			case r.lo > a:
				return 1
			}
			return 0
		})
		if !found || l.v4[i].hi < s.hi {
			t.Errorf("%v not covered by the merged ranges", p)
		}
	}
}

func TestSplitHosts(t *testing.T) {
	l := spansOf(mustPrefixes("192.0.2.1", "192.0.2.3", "192.0.2.4", "198.51.100.0/24"))
	nets, hosts := splitHosts(l.v4)
	if len(hosts) != 1 || len(nets) != 2 {
		t.Errorf("nets %v hosts %v: want 192.0.2.1 alone and two ranges (192.0.2.3-4 merged, the /24)", nets, hosts)
	}
}

func TestCommentRoundTrip(t *testing.T) {
	r := Defaults()
	r.BanPrefix6 = 56
	r.BanPrefix4 = 28
	c := comment(&r, slots{'b', 'a'})
	if s, ok := slotsFromComment(c); !ok || s != (slots{'b', 'a'}) {
		t.Errorf("slots from %q = %c, %v", c, s, ok)
	}
	if n, ok := banPrefixFromComment(c, ipv6); !ok || n != 56 {
		t.Errorf("IPv6 ban prefix from %q = %d, %v", c, n, ok)
	}
	if n, ok := banPrefixFromComment(c, ipv4); !ok || n != 28 {
		t.Errorf("IPv4 ban prefix from %q = %d, %v", c, n, ok)
	}
	r3 := r
	r3.BanPrefix4 = 24
	if comment(&r3, slots{'b', 'a'}) == c {
		t.Error("a new IPv4 ban prefix left the rules' identity unchanged")
	}
	r2 := r
	r2.Allow = mustPrefixes("192.0.2.1") // lists are set contents, not rules
	if comment(&r2, slots{'b', 'a'}) != c {
		t.Error("a list change changed the rules' identity")
	}
	r2.TrustedSIP = true
	if comment(&r2, slots{'b', 'a'}) == c {
		t.Error("a settings change left the rules' identity unchanged")
	}
}
