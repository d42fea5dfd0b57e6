package netfilter

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// addWANAddr gives the lab's internet side one more source address.
func addWANAddr(t *testing.T, b *testBox, a netip.Addr) {
	t.Helper()
	if err := netlab.IP(context.Background(), "-n", b.WAN.Name, "addr", "add", netip.PrefixFrom(a, a.BitLen()).String(), "dev", "lo"); err != nil {
		t.Fatal(err)
	}
}

// bansInForce returns the prefixes Bans lists.
func bansInForce(t *testing.T, fw *Firewall) []netip.Prefix {
	t.Helper()
	bans, err := fw.Bans()
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, b := range bans {
		out = append(out, b.Prefix)
	}
	return out
}

// With an IPv4 ban prefix of 28, a ban of one address bans its /28, and
// not the next one.
func TestBanPrefix4(t *testing.T) {
	r := Defaults()
	r.BanPrefix4 = 28
	b := newTestBox(t, r)
	next := netip.MustParseAddr("203.0.113.80") // the /28 after the attacker's (.64-.79)
	addWANAddr(t, b, next)
	if err := b.fw.Ban([]Ban{{Addr: netlab.Attacker4, Timeout: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []netip.Addr{netlab.Attacker4, netlab.Other4} { // .66 and .77: one /28
		if udp(t, b.WAN, b.PBX, a, ap(netlab.PBX4, 5060)) {
			t.Errorf("%v, in the banned /28, reached the PBX", a)
		}
	}
	if !udp(t, b.WAN, b.PBX, next, ap(netlab.PBX4, 5060)) || !udp(t, b.WAN, b.PBX, netlab.Carrier4, ap(netlab.PBX4, 5060)) {
		t.Error("an address outside the banned /28 was dropped")
	}
	if got, want := bansInForce(t, b.fw), []netip.Prefix{netip.MustParsePrefix("203.0.113.64/28")}; !slices.Equal(got, want) {
		t.Errorf("Bans() = %v, want %v", got, want)
	}
	// Another process (the CLI) reads the prefix back from the kernel.
	cli, err := Open(WithNetNS(b.Box.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if got := bansInForce(t, cli); len(got) != 1 || got[0].Bits() != 28 {
		t.Errorf("Bans() from another process = %v, want the /28", got)
	}
	if err := cli.Unban([]netip.Prefix{netip.PrefixFrom(netlab.Other4, 32)}); err != nil {
		t.Fatal(err)
	}
	if !udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("unbanning an address of the /28 did not lift the /28's ban")
	}
}

// A network ban drops every address in the network and none outside; an
// allowlisted address inside still passes; a narrower ban inside it and a
// lift inside it split it; it expires.
func TestNetworkBan(t *testing.T) {
	r := Defaults()
	b := newTestBox(t, r)
	first := netip.MustParseAddr("203.0.113.1")
	addWANAddr(t, b, first)
	net4, net6 := netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8:bad::/48")
	const lasts = 6 * time.Second
	end := time.Now().Add(lasts)
	if err := b.fw.Ban([]Ban{BanOf(net4, lasts), BanOf(net6, lasts), {Addr: netip.MustParseAddr("2001:db8:bad:2::1"), Timeout: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ src, pbx netip.Addr }{
		{netlab.Attacker4, netlab.PBX4}, {netlab.Other4, netlab.PBX4}, {netlab.Attacker6, netlab.PBX6}, {netlab.Other6, netlab.PBX6},
	} {
		if udp(t, b.WAN, b.PBX, c.src, ap(c.pbx, 5060)) {
			t.Errorf("%v, in a banned network, reached the PBX", c.src)
		}
	}
	if tcp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("a source in a banned network reached the PBX over TCP")
	}
	if !udp(t, b.WAN, b.PBX, netlab.Carrier4, ap(netlab.PBX4, 5060)) || !udp(t, b.WAN, b.PBX, netlab.Carrier6, ap(netlab.PBX6, 5060)) {
		t.Error("a source outside the banned networks was dropped")
	}
	want := []netip.Prefix{netip.MustParsePrefix("2001:db8:bad:2::/64"), net4, net6}
	if got := bansInForce(t, b.fw); !slices.Equal(got, want) {
		t.Errorf("Bans() = %v, want %v", got, want)
	}
	if st, err := b.fw.Stats(); err != nil || st.Sizes["dynamic"].Total() != 3 {
		t.Errorf("Stats() dynamic = %+v, %v; want 3", st.Sizes["dynamic"], err)
	}

	// The allowlist is checked first: it wins over a network ban.
	r.Allow = []netip.Prefix{netip.PrefixFrom(netlab.Attacker4, 32)}
	if err := b.fw.Apply(r); err != nil {
		t.Fatal(err)
	}
	if !udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("an allowlisted address inside a banned network was dropped")
	}
	if udp(t, b.WAN, b.PBX, netlab.Other4, ap(netlab.PBX4, 5060)) {
		t.Error("the allowlist let the rest of the banned network through")
	}

	// A narrower network ban lasting longer splits the wider one; lifting
	// a source inside the other family's network ban lifts its own ban and
	// punches a hole in the network's.
	inner := netip.MustParsePrefix("203.0.113.64/26")
	if err := b.fw.Ban([]Ban{BanOf(inner, time.Minute)}); err != nil {
		t.Fatal(err)
	}
	lifted := netip.MustParsePrefix("2001:db8:bad:2::/64")
	if err := b.fw.Unban([]netip.Prefix{lifted}); err != nil {
		t.Fatal(err)
	}
	if !udp(t, b.WAN, b.PBX, netlab.Other6, ap(netlab.PBX6, 5060)) {
		t.Error("a network lifted out of a wider ban is still banned")
	}
	if udp(t, b.WAN, b.PBX, netlab.Attacker6, ap(netlab.PBX6, 5060)) {
		t.Error("lifting a network lifted the rest of the wider ban")
	}
	bans, err := b.fw.Bans()
	if err != nil {
		t.Fatal(err)
	}
	covered := map[netip.Addr]time.Duration{}
	for _, ban := range bans {
		for _, a := range []netip.Addr{netlab.Attacker4, netlab.Other4, first, netlab.Other6, netlab.Attacker6} {
			if ban.Prefix.Contains(a) {
				covered[a] = ban.Expires
			}
		}
	}
	if covered[netlab.Attacker4] <= lasts || covered[netlab.Other4] <= lasts {
		t.Errorf("the /26 inside the /24 is not banned for longer: %v", bans)
	}
	if d := covered[first]; d <= 0 || d > lasts {
		t.Errorf("the rest of the /24 is banned for %v, want its own time left: %v", d, bans)
	}
	if _, ok := covered[netlab.Other6]; ok {
		t.Errorf("Bans() still lists the lifted network: %v", bans)
	}

	time.Sleep(time.Until(end) + 500*time.Millisecond)
	if !udp(t, b.WAN, b.PBX, netlab.Attacker6, ap(netlab.PBX6, 5060)) || !udp(t, b.WAN, b.PBX, first, ap(netlab.PBX4, 5060)) {
		t.Error("the network ban did not expire")
	}
	if udp(t, b.WAN, b.PBX, netlab.Other4, ap(netlab.PBX4, 5060)) {
		t.Error("the longer ban of the /26 ended with the /24's")
	}
}

func TestNetBansStayDisjoint(t *testing.T) {
	p := netip.MustParsePrefix
	m := netBans{}
	m.ban(p("203.0.113.0/24"), time.Minute)
	m.ban(p("203.0.113.64/26"), 30*time.Second) // inside, shorter: nothing to do
	if len(m) != 1 || m[p("203.0.113.0/24")] != time.Minute {
		t.Fatalf("a shorter ban inside a longer one changed the set: %v", m)
	}
	m.ban(p("203.0.113.64/26"), time.Hour) // inside, longer: the /24 splits
	want := netBans{p("203.0.113.0/26"): time.Minute, p("203.0.113.64/26"): time.Hour, p("203.0.113.128/25"): time.Minute}
	if !mapsEqual(m, want) {
		t.Fatalf("after a longer ban inside: %v, want %v", m, want)
	}
	m.ban(p("203.0.113.0/24"), 2*time.Minute) // over: the shorter parts go, the longer stays
	want = netBans{p("203.0.113.0/26"): 2 * time.Minute, p("203.0.113.64/26"): time.Hour, p("203.0.113.128/25"): 2 * time.Minute}
	if !mapsEqual(m, want) {
		t.Fatalf("after a ban over: %v, want %v", m, want)
	}
	m.ban(p("203.0.113.64/26"), time.Second) // the same network again: its ban restarts
	if m[p("203.0.113.64/26")] != time.Second {
		t.Fatalf("a ban of the same network did not restart: %v", m)
	}
	m.lift(p("203.0.113.0/24"))
	if len(m) != 0 {
		t.Fatalf("lifting the /24 left %v", m)
	}
	m.ban(p("2001:db8::/32"), time.Minute)
	m.lift(p("2001:db8:bad::/48"))
	var covered []netip.Prefix
	for q := range m {
		if q.Overlaps(p("2001:db8:bad::/48")) {
			t.Errorf("%v still covers the lifted network", q)
		}
		covered = append(covered, q)
	}
	if len(covered) != 16 { // 32 → 48: one sibling per bit
		t.Errorf("the /32 minus a /48 is %d prefixes, want 16: %v", len(covered), covered)
	}
	// The kernel's elements read back as the prefixes written, the one
	// that runs to the end of the address space (no end element) too.
	elems := netElements(p("203.0.113.0/24"), time.Minute)
	elems = append(elems, netElements(p("255.255.255.0/24"), time.Minute)...)
	got := netBansOf(elems)
	if _, ok := got[p("255.255.255.0/24")]; len(got) != 2 || !ok {
		t.Errorf("netBansOf = %v, want 203.0.113.0/24 and 255.255.255.0/24", got)
	}
}

func mapsEqual(a, b netBans) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// RemovePermanent, from a process that does not own the ruleset, takes
// addresses and networks off the kernel's permanent list, in the host set
// and inside merged ranges of the network set, and leaves the rest.
func TestRemovePermanent(t *testing.T) {
	r := Defaults()
	next := netip.MustParseAddr("203.0.113.80")
	// Two adjacent /28s: one range in the kernel; and a /48.
	r.Permanent = mustPrefixes("203.0.113.64/28", "203.0.113.80/28", "2001:db8:bad::/48", "198.51.100.10")
	b := newTestBox(t, r)
	addWANAddr(t, b, next)
	for _, a := range []netip.Addr{netlab.Attacker4, next, netlab.Carrier4} {
		if udp(t, b.WAN, b.PBX, a, ap(netlab.PBX4, 5060)) {
			t.Fatalf("%v, banned permanently, reached the PBX", a)
		}
	}
	cli, err := Open(WithNetNS(b.Box.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := cli.RemovePermanent(mustPrefixes("203.0.113.64/28", "198.51.100.10", netlab.Attacker6.String())); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src, pbx netip.Addr
		passes   bool
	}{
		{netlab.Attacker4, netlab.PBX4, true},
		{netlab.Other4, netlab.PBX4, true},
		{netlab.Carrier4, netlab.PBX4, true},
		{next, netlab.PBX4, false},
		{netlab.Attacker6, netlab.PBX6, true},
		{netlab.Sibling6, netlab.PBX6, false},
	} {
		if got := udp(t, b.WAN, b.PBX, c.src, ap(c.pbx, 5060)); got != c.passes {
			t.Errorf("%v reaches the PBX: %v, want %v", c.src, got, c.passes)
		}
	}
	// The owner's next Apply brings the list back to its Ruleset.
	if err := b.fw.Apply(r); err != nil {
		t.Fatal(err)
	}
	if udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("Apply did not restore the Ruleset's permanent list")
	}
	if err := cli.RemovePermanent([]netip.Prefix{{}}); err == nil {
		t.Error("an invalid prefix was accepted")
	}
}

// A held network holds each of its sources to three SIP requests, then one
// every half second; sources outside it are not held.
func TestHoldNetwork(t *testing.T) {
	b := newTestBox(t, Defaults())
	if err := b.fw.Hold([]Ban{BanOf(netip.MustParsePrefix("203.0.113.0/24"), 2*time.Second)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src  netip.Addr
		want int
	}{{netlab.Attacker4, 3}, {netlab.Other4, 3}, {netlab.Carrier4, 20}} {
		rx, err := b.PBX.ListenUDP(ap(netlab.PBX4, 5060))
		if err != nil {
			t.Fatal(err)
		}
		tx, err := b.WAN.DialUDP(c.src, ap(netlab.PBX4, 5060))
		if err != nil {
			t.Fatal(err)
		}
		got := requestsThrough(t, tx, rx, 20, silence)
		if got != c.want {
			t.Errorf("%v: %d of 20 back-to-back requests reached the PBX, want %d", c.src, got, c.want)
		}
	}
}

// A network ban inside one that ends at that very moment is applied all
// the same: an element that ends between the read and the batch makes the
// kernel refuse the batch, which is built again from a new read.
func TestNetworkBanAtExpiry(t *testing.T) {
	b := newTestBox(t, Defaults())
	outer, inner := netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("203.0.113.64/26")
	for _, early := range []time.Duration{20, 10, 5, 2, 1, 0} {
		if err := b.fw.Ban([]Ban{BanOf(outer, time.Second)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second - early*time.Millisecond)
		if err := b.fw.Ban([]Ban{BanOf(inner, 2*time.Second)}); err != nil {
			t.Errorf("a ban %v before the wider one ends: %v", early*time.Millisecond, err)
		}
		if err := b.fw.Unban([]netip.Prefix{inner}); err != nil {
			t.Fatal(err)
		}
	}
}
