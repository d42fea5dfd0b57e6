package netfilter

import (
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
}
