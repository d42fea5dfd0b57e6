package netfilter

import (
	"net"
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
	if err := b.fw.Ban([]Ban{{Addr: netlab.Attacker4, Timeout: 2 * time.Second}, {Addr: netlab.Attacker6, Timeout: 2 * time.Second}}); err != nil {
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

// A held source gets three SIP requests over UDP through, then one every
// half second; its other traffic, and other sources, are not held; the hold
// ends by itself.
func TestHold(t *testing.T) {
	b := newTestBox(t, Defaults())
	// The same source twice in one batch (two failures read together):
	// one element, the longer hold.
	if err := b.fw.Hold([]Ban{{Addr: netlab.Attacker4, Timeout: time.Second}, {Addr: netlab.Attacker4, Timeout: 2 * time.Second}, {Addr: netlab.Attacker6, Timeout: 2 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ src, pbx netip.Addr }{{netlab.Attacker4, netlab.PBX4}, {netlab.Sibling6, netlab.PBX6}} {
		rx, err := b.PBX.ListenUDP(ap(c.pbx, 5060))
		if err != nil {
			t.Fatal(err)
		}
		tx, err := b.WAN.DialUDP(c.src, ap(c.pbx, 5060))
		if err != nil {
			t.Fatal(err)
		}
		got := requestsThrough(t, tx, rx, 20, silence) // a fast brute force's guesses
		if got != 3 {
			t.Errorf("%v: %d of 20 back-to-back requests reached the PBX while held, want 3", c.src, got)
		}
	}
	if !tcp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) || !udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5061)) {
		t.Error("a held source's other traffic was dropped")
	}
	if !udp(t, b.WAN, b.PBX, netlab.Other4, ap(netlab.PBX4, 5060)) {
		t.Error("a source that is not held was dropped")
	}
	if n := counter(t, b.fw, CounterHeld); n < 17 {
		t.Errorf("held counter = %d, want >= 17", n)
	}
	time.Sleep(2500 * time.Millisecond)
	if !udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) || !udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("the hold did not end")
	}
}

// requestsThrough sends n SIP requests back to back on tx, closes both
// sockets once rx has been silent for silence, and returns how many
// reached rx.
func requestsThrough(t *testing.T, tx, rx net.Conn, n int, silence time.Duration) int {
	t.Helper()
	for range n {
		if _, err := tx.Write([]byte("REGISTER sip:pbx SIP/2.0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	tx.Close()
	defer rx.Close()
	got := 0
	for {
		_ = rx.SetReadDeadline(time.Now().Add(silence))
		if _, err := rx.Read(make([]byte, 512)); err != nil {
			return got
		}
		got++
	}
}
