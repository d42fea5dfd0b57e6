package netfilter

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

func TestForwardingBothWays(t *testing.T) {
	b := newTestBox(t, Defaults())
	for _, c := range []struct {
		name     string
		from, to *netlab.NS
		src, dst netip.Addr
	}{
		{"wan→pbx v4", b.WAN, b.PBX, netlab.Carrier4, netlab.PBX4},
		{"pbx→wan v4", b.PBX, b.WAN, netlab.PBX4, netlab.Carrier4},
		{"wan→pbx v6", b.WAN, b.PBX, netlab.Carrier6, netlab.PBX6},
		{"pbx→wan v6", b.PBX, b.WAN, netlab.PBX6, netlab.Carrier6},
	} {
		if !udp(t, c.from, c.to, c.src, ap(c.dst, 5060)) {
			t.Errorf("%s: UDP did not cross the bridge", c.name)
		}
		if !tcp(t, c.from, c.to, c.src, ap(c.dst, 5060)) {
			t.Errorf("%s: TCP did not cross the bridge", c.name)
		}
	}
}

func TestDynamicBan(t *testing.T) {
	b := newTestBox(t, Defaults())
	if err := b.fw.Ban([]Ban{{netlab.Attacker4, 2 * time.Second}, {netlab.Attacker6, 2 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	if udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("banned IPv4 source reached the PBX")
	}
	if udp(t, b.WAN, b.PBX, netlab.Sibling6, ap(netlab.PBX6, 5060)) {
		t.Error("an address in the banned IPv6 /64 reached the PBX")
	}
	if tcp(t, b.WAN, b.PBX, netlab.Attacker6, ap(netlab.PBX6, 5060)) {
		t.Error("banned IPv6 source reached the PBX over TCP")
	}
	if !udp(t, b.WAN, b.PBX, netlab.Other4, ap(netlab.PBX4, 5060)) || !udp(t, b.WAN, b.PBX, netlab.Other6, ap(netlab.PBX6, 5060)) {
		t.Error("a source that is not banned was dropped")
	}
	if n := counter(t, b.fw, CounterDynamic); n < 3 {
		t.Errorf("dynamic counter = %d, want >= 3", n)
	}
	bans, err := b.fw.Bans()
	if err != nil || len(bans) != 2 {
		t.Fatalf("Bans() = %v, %v; want 2 bans", bans, err)
	}
	for _, ban := range bans {
		if ban.Expires <= 0 || ban.Expires > 2*time.Second {
			t.Errorf("ban %v expires in %v, want (0, 2s]", ban.Prefix, ban.Expires)
		}
	}
	time.Sleep(2500*time.Millisecond - 2*silence)
	if !udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("IPv4 ban did not expire")
	}
	if !udp(t, b.WAN, b.PBX, netlab.Attacker6, ap(netlab.PBX6, 5060)) {
		t.Error("IPv6 ban did not expire")
	}
}
