package netfilter

import (
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

func crowdSecInForce(t *testing.T, fw *Firewall) []netip.Prefix {
	t.Helper()
	bans, err := fw.CrowdSecBans()
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, b := range bans {
		out = append(out, b.Prefix)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// CrowdSec's decisions drop their sources exactly (no ban prefix), below
// the allowlist; a second sync sends only the difference, and a decision
// withdrawn lets its source through again.
func TestSetCrowdSec(t *testing.T) {
	r := Defaults()
	r.BanPrefix4 = 24
	r.Allow = mustPrefixes(netlab.Other4.String() + "/32")
	b := newTestBox(t, r)
	neighbour := netip.MustParseAddr("203.0.113.99") // in the attacker's /24
	addWANAddr(t, b, neighbour)
	bans := []Ban{
		{Addr: netlab.Attacker4, Bits: 32, Timeout: time.Hour},
		{Addr: netlab.Other4, Bits: 32, Timeout: time.Hour}, // allowlisted: the allowlist wins
		{Addr: netip.MustParseAddr("2001:db8:dead::"), Bits: 48, Timeout: time.Minute},
		{Addr: netip.MustParseAddr("2001:db8:dead::1"), Bits: 128, Timeout: 2 * time.Minute}, // inside the /48, lasting longer
	}
	v4, v6, err := b.fw.SetCrowdSec(bans)
	if err != nil {
		t.Fatal(err)
	}
	if v4 != 2 || v6 < 2 {
		t.Errorf("SetCrowdSec = %d, %d networks; want 2 IPv4 and the /48 split around the /128", v4, v6)
	}
	if udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("a source of a CrowdSec decision reached the PBX")
	}
	if !udp(t, b.WAN, b.PBX, netlab.Other4, ap(netlab.PBX4, 5060)) {
		t.Error("an allowlisted source of a CrowdSec decision was dropped")
	}
	if !udp(t, b.WAN, b.PBX, neighbour, ap(netlab.PBX4, 5060)) {
		t.Error("a source in the same /24 (the ban prefix) was dropped: a decision must cover its address only")
	}
	if got := counter(t, b.fw, CounterCrowdSec); got == 0 {
		t.Error("the crowdsec counter counted nothing")
	}
	st, err := b.fw.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Sizes["crowdsec"].V4 != 2 {
		t.Errorf("Stats crowdsec size = %+v", st.Sizes["crowdsec"])
	}
	// Withdraw the attacker's decision: it gets through again.
	if _, _, err := b.fw.SetCrowdSec(bans[1:]); err != nil {
		t.Fatal(err)
	}
	if !udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("a withdrawn decision still dropped its source")
	}
	if got := crowdSecInForce(t, b.fw); slices.Contains(got, netip.PrefixFrom(netlab.Attacker4, 32)) || !slices.Contains(got, netip.PrefixFrom(netlab.Other4, 32)) {
		t.Errorf("in force after the withdrawal: %v", got)
	}
	// A decision of a new length restarts the range's timeout.
	if _, _, err := b.fw.SetCrowdSec([]Ban{{Addr: netlab.Other4, Bits: 32, Timeout: 10 * time.Minute}}); err != nil {
		t.Fatal(err)
	}
	entries, err := b.fw.CrowdSecBans()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Expires > 10*time.Minute || entries[0].Expires < 9*time.Minute {
		t.Errorf("after a shorter decision: %+v, want one range with 10m left", entries)
	}
	// Applying the ruleset again keeps the decisions.
	if err := b.fw.Apply(r); err != nil {
		t.Fatal(err)
	}
	if got := crowdSecInForce(t, b.fw); !slices.Contains(got, netip.PrefixFrom(netlab.Other4, 32)) {
		t.Errorf("a reapplied ruleset lost the decisions: %v", got)
	}
	// Invalid input changes nothing.
	if _, _, err := b.fw.SetCrowdSec([]Ban{{Addr: netlab.Attacker4, Bits: 33, Timeout: time.Hour}}); err == nil {
		t.Error("a /33 was accepted")
	}
	if got := crowdSecInForce(t, b.fw); len(got) == 0 {
		t.Error("a refused sync emptied the set")
	}
	// Everything withdrawn: the set is empty.
	if _, _, err := b.fw.SetCrowdSec(nil); err != nil {
		t.Fatal(err)
	}
	if got := crowdSecInForce(t, b.fw); len(got) != 0 {
		t.Errorf("in force after withdrawing all: %v", got)
	}
}

// A decision ends on its own timeout in the kernel.
func TestCrowdSecExpires(t *testing.T) {
	b := newTestBox(t, Defaults())
	if _, _, err := b.fw.SetCrowdSec([]Ban{{Addr: netlab.Attacker4, Bits: 32, Timeout: time.Second}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(crowdSecInForce(t, b.fw)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("a 1s decision was still in force after 10s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("an ended decision still dropped its source")
	}
	// What ended on its own is gone from the kernel: withdrawing it, or
	// loading it again, works all the same.
	if _, _, err := b.fw.SetCrowdSec(nil); err != nil {
		t.Fatalf("withdrawing an ended decision: %v", err)
	}
	if _, _, err := b.fw.SetCrowdSec([]Ban{{Addr: netlab.Attacker4, Bits: 32, Timeout: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("a decision loaded again did not drop its source")
	}
}

// A daemon started again (another Firewall) finds the decisions of the
// last run in the kernel and replaces them.
func TestCrowdSecAcrossRuns(t *testing.T) {
	b := newTestBox(t, Defaults())
	if _, _, err := b.fw.SetCrowdSec([]Ban{{Addr: netlab.Attacker4, Bits: 32, Timeout: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	next, err := Open(WithNetNS(b.Box.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if _, _, err := next.SetCrowdSec([]Ban{{Addr: netlab.Other4, Bits: 32, Timeout: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if got, want := crowdSecInForce(t, next), []netip.Prefix{netip.PrefixFrom(netlab.Other4, 32)}; !slices.Equal(got, want) {
		t.Errorf("after the next run's first load: %v, want %v", got, want)
	}
}

// BenchmarkSetCrowdSec times a pull's load: the first one of n decisions
// (single addresses, as CrowdSec's mostly are) into an empty set, and an
// incremental one that adds one decision to a set holding n.
func BenchmarkSetCrowdSec(b *testing.B) {
	for _, n := range []int{1000, 20000} {
		lab := netlab.NewT(b)
		fw, err := Open(WithNetNS(lab.Box.Fd()))
		if err != nil {
			b.Fatal(err)
		}
		defer fw.Close()
		if err := fw.Apply(Defaults()); err != nil {
			b.Fatal(err)
		}
		bans := make([]Ban, n+1)
		for i := range bans {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], 16<<24+uint32(i)*2) // never adjacent
			bans[i] = Ban{Addr: netip.AddrFrom4(a), Bits: 32, Timeout: time.Hour}
		}
		b.Run(fmt.Sprintf("first/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := fw.SetCrowdSec(bans[:n]); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, _, err := fw.SetCrowdSec(nil); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
		b.Run(fmt.Sprintf("one-more/n=%d", n), func(b *testing.B) {
			if _, _, err := fw.SetCrowdSec(bans[:n]); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				b.StopTimer()
				if _, _, err := fw.SetCrowdSec(bans[:n]); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, _, err := fw.SetCrowdSec(bans); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// disjoint keeps ranges apart, each banned for the longest ban over it.
func TestDisjoint(t *testing.T) {
	a := netip.MustParseAddr
	ban := func(p string, left time.Duration) csBan {
		q := netip.MustParsePrefix(p)
		return csBan{lo: q.Addr(), hi: lastOf(q), left: left}
	}
	h, m := time.Hour, time.Minute
	for _, tc := range []struct {
		name string
		bans []csBan
		want map[csRange]time.Duration
	}{
		{"apart", []csBan{ban("203.0.113.1/32", h), ban("203.0.113.3/32", m)}, map[csRange]time.Duration{
			{a("203.0.113.1"), a("203.0.113.2")}: h, {a("203.0.113.3"), a("203.0.113.4")}: m}},
		{"neighbours lasting as long merge", []csBan{ban("203.0.113.1/32", h), ban("203.0.113.2/32", h)}, map[csRange]time.Duration{
			{a("203.0.113.1"), a("203.0.113.3")}: h}},
		{"a longer ban inside a network splits it", []csBan{ban("203.0.113.0/24", m), ban("203.0.113.7/32", h)}, map[csRange]time.Duration{
			{a("203.0.113.0"), a("203.0.113.7")}: m, {a("203.0.113.7"), a("203.0.113.8")}: h, {a("203.0.113.8"), a("203.0.114.0")}: m}},
		{"a shorter ban inside a network changes nothing", []csBan{ban("203.0.113.7/32", m), ban("203.0.113.0/24", h)}, map[csRange]time.Duration{
			{a("203.0.113.0"), a("203.0.114.0")}: h}},
		{"the same address twice: the longer", []csBan{ban("2001:db8::1/128", m), ban("2001:db8::1/128", h)}, map[csRange]time.Duration{
			{a("2001:db8::1"), a("2001:db8::2")}: h}},
		{"to the end of the family", []csBan{ban("255.255.255.255/32", h)}, map[csRange]time.Duration{
			{a("255.255.255.255"), netip.Addr{}}: h}},
		{"none", nil, map[csRange]time.Duration{}},
	} {
		if got := disjoint(tc.bans); !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
