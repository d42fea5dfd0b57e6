package netfilter

import (
	"bytes"
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// sendPayload sends msg in one datagram from src on host from to dst on
// host to, and reports whether it arrived.
func sendPayload(t *testing.T, from, to *netlab.NS, src netip.Addr, dst netip.AddrPort, msg string) bool {
	t.Helper()
	rx, err := to.ListenUDP(dst)
	if err != nil {
		t.Fatalf("listen %v: %v", dst, err)
	}
	defer rx.Close()
	tx, err := from.DialUDP(src, dst)
	if err != nil {
		t.Fatalf("dial %v: %v", dst, err)
	}
	defer tx.Close()
	if _, err := tx.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = rx.SetReadDeadline(time.Now().Add(silence))
	for {
		n, _, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil {
			return false
		}
		if bytes.Equal(buf[:n], []byte(msg)) {
			return true
		}
	}
}

func invite(uri string) string {
	return "INVITE " + uri + " SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\nFrom: <sip:201@192.0.2.10>;tag=1\r\n" +
		"To: <" + uri + ">\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
}

// The office's INVITEs to a blocked prefix are dropped on their way to the
// carrier and counted; other numbers, other ports, other methods and the
// same bytes from the wan pass.
func TestBlockDialled(t *testing.T) {
	r := Defaults()
	r.LAN = netlab.LANPort
	long := "+" + strings.Repeat("9", MaxDialledPrefix-1) // "INVITE sips:" and 24 characters: three registers
	r.BlockDialled = []string{"+882", "00882", long}
	b := newTestBox(t, r)
	carrier4, carrier6 := ap(netlab.Carrier4, 5060), ap(netlab.Carrier6, 5060)
	blocked := 0
	for _, c := range []struct {
		name     string
		from, to *netlab.NS
		src      netip.Addr
		dst      netip.AddrPort
		msg      string
		passes   bool
	}{
		{"+882 over IPv4", b.PBX, b.WAN, netlab.PBX4, carrier4, invite("sip:+88212345@198.51.100.10"), false},
		{"+882 over IPv6", b.PBX, b.WAN, netlab.PBX6, carrier6, invite("sip:+88212345@[2001:db8:c::10]"), false},
		{"00882 as sips:", b.PBX, b.WAN, netlab.PBX4, carrier4, invite("sips:0088212345@198.51.100.10"), false},
		{"+882 as tel:", b.PBX, b.WAN, netlab.PBX4, carrier4, invite("tel:+88212345"), false},
		{"the longest prefix", b.PBX, b.WAN, netlab.PBX4, carrier4, invite("sips:" + long + "1@198.51.100.10"), false},
		{"+33", b.PBX, b.WAN, netlab.PBX4, carrier4, invite("sip:+3312345@198.51.100.10"), true},
		{"+88 alone", b.PBX, b.WAN, netlab.PBX4, carrier4, invite("sip:+88@198.51.100.10"), true},
		{"the longest prefix less its last digit", b.PBX, b.WAN, netlab.PBX4, carrier4, invite("sips:" + long[:len(long)-1] + "@198.51.100.10"), true},
		{"+882 in a MESSAGE", b.PBX, b.WAN, netlab.PBX4, carrier4, strings.Replace(invite("sip:+88212345@198.51.100.10"), "INVITE", "MESSAGE", 1), true},
		{"+882 to another port", b.PBX, b.WAN, netlab.PBX4, ap(netlab.Carrier4, 5099), invite("sip:+88212345@198.51.100.10"), true},
		{"+882 from the wan", b.WAN, b.PBX, netlab.Carrier4, ap(netlab.PBX4, 5060), invite("sip:+88212345@192.0.2.10"), true},
	} {
		if got := sendPayload(t, c.from, c.to, c.src, c.dst, c.msg); got != c.passes {
			t.Errorf("%s: passed %v, want %v", c.name, got, c.passes)
		}
		if !c.passes {
			blocked++
		}
	}
	if n := counter(t, b.fw, CounterTollBlocked); n != uint64(blocked) {
		t.Errorf("%s counter = %d, want %d", CounterTollBlocked, n, blocked)
	}
	if nft, err := exec.LookPath("nft"); err == nil {
		out, err := b.Box.Output(context.Background(), nft, "list", "chain", "bridge", TableName, chainToll)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the block as nft reads it back:\n%s", out)
		if n := strings.Count(string(out), `counter name "toll_blocked" drop`); n != len(r.BlockDialled)*len(tollSchemes) {
			t.Errorf("%d rules in %s, want %d", n, chainToll, len(r.BlockDialled)*len(tollSchemes))
		}
	}

	// Without the list the same call passes; a bad list changes nothing.
	r.BlockDialled = nil
	if err := b.fw.Apply(r); err != nil {
		t.Fatal(err)
	}
	if !sendPayload(t, b.PBX, b.WAN, netlab.PBX4, carrier4, invite("sip:+88212345@198.51.100.10")) {
		t.Error("an unblocked number was dropped")
	}
	bad := r
	bad.BlockDialled = []string{"+882", "sip:+883"}
	if err := b.fw.Apply(bad); err == nil || !strings.Contains(err.Error(), "block_dialled[1]") {
		t.Errorf("Apply(%v) = %v, want an error naming block_dialled[1]", bad.BlockDialled, err)
	}
	bad.BlockDialled, bad.LAN = []string{"+882"}, ""
	if err := b.fw.Apply(bad); err == nil || !strings.Contains(err.Error(), "lan") {
		t.Errorf("a block without the lan port: %v", err)
	}
	if !sendPayload(t, b.PBX, b.WAN, netlab.PBX4, carrier4, invite("sip:+88212345@198.51.100.10")) {
		t.Error("a refused ruleset changed the rules")
	}
}
