package netfilter

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
	"github.com/sipguard/sipguard/sip/portrange"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestAllowBeatsDeny(t *testing.T) {
	r := Defaults()
	r.Deny = mustPrefixes("203.0.113.0/24", "2001:db8:bad::/48")
	r.Allow = mustPrefixes("203.0.113.66", "2001:db8:bad:1::66/128")
	b := newTestBox(t, r)
	if !udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) || !udp(t, b.WAN, b.PBX, netlab.Attacker6, ap(netlab.PBX6, 5060)) {
		t.Error("an allowlisted address inside a denied network was dropped")
	}
	if udp(t, b.WAN, b.PBX, netlab.Other4, ap(netlab.PBX4, 5060)) || udp(t, b.WAN, b.PBX, netlab.Other6, ap(netlab.PBX6, 5060)) {
		t.Error("a denied address reached the PBX")
	}
	if !udp(t, b.WAN, b.PBX, netlab.Carrier4, ap(netlab.PBX4, 5060)) {
		t.Error("an address outside the deny list was dropped")
	}
	if got := counter(t, b.fw, CounterDeny); got != 2 {
		t.Errorf("deny counter = %d, want 2", got)
	}
	if got := counter(t, b.fw, CounterAllow); got < 2 {
		t.Errorf("allow counter = %d, want >= 2", got)
	}
	// Allow also wins over dynamic bans.
	if err := b.fw.Ban([]Ban{{Addr: netlab.Attacker4, Timeout: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	if !udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("a banned but allowlisted address was dropped")
	}
}

func TestListsChangeInPlace(t *testing.T) {
	r := Defaults()
	r.Permanent = mustPrefixes("203.0.113.66", "2001:db8:bad:1::/64")
	b := newTestBox(t, r)
	if udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) || udp(t, b.WAN, b.PBX, netlab.Sibling6, ap(netlab.PBX6, 5060)) {
		t.Fatal("a permanently banned source reached the PBX")
	}
	if got := counter(t, b.fw, CounterPermanent); got != 2 {
		t.Errorf("permanent counter = %d, want 2", got)
	}
	// Move the attacker from the permanent list to the deny list, widen it,
	// and check the kernel's sets hold exactly the new content.
	r.Permanent = nil
	r.Deny = mustPrefixes("203.0.113.64/26", "203.0.113.70", "2001:db8:bad::/48")
	if err := b.fw.Apply(r); err != nil {
		t.Fatal(err)
	}
	if udp(t, b.WAN, b.PBX, netlab.Other4, ap(netlab.PBX4, 5060)) {
		t.Error("a denied source reached the PBX")
	}
	st, err := b.fw.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Sizes["permanent"]; got.Total() != 0 {
		t.Errorf("permanent list holds %+v after it was emptied", got)
	}
	if got := st.Sizes["deny"]; got != (Size{V4: 1, V6: 1}) {
		t.Errorf("deny list = %+v, want the two merged ranges {1 1}", got)
	}
	if got := counter(t, b.fw, CounterPermanent); got != 2 {
		t.Errorf("permanent counter = %d after re-apply, want it kept at 2", got)
	}
}

func TestSourcesReplaceAtomically(t *testing.T) {
	b := newTestBox(t, Defaults())
	seq := func(ps ...string) func(func(netip.Prefix) bool) { return slices.Values(mustPrefixes(ps...)) }

	n4, n6, err := b.fw.ReplaceSource(Feeds, seq("203.0.113.64/27", "203.0.113.0/25", "2001:db8:bad::/48", "198.18.0.0/15"))
	if err != nil {
		t.Fatal(err)
	}
	if n4 != 2 || n6 != 1 {
		t.Errorf("ReplaceSource loaded %d+%d ranges, want 2+1 after merging", n4, n6)
	}
	if udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) || udp(t, b.WAN, b.PBX, netlab.Attacker6, ap(netlab.PBX6, 5060)) {
		t.Error("a source on a blocklist feed reached the PBX")
	}
	if !udp(t, b.WAN, b.PBX, netlab.Carrier4, ap(netlab.PBX4, 5060)) {
		t.Error("a source not on the feed was dropped")
	}
	if got := counter(t, b.fw, CounterFeed); got != 2 {
		t.Errorf("feed counter = %d, want 2", got)
	}
	// Replace again: the old content goes, and with it the old slot's sets.
	if _, _, err := b.fw.ReplaceSource(Feeds, seq("198.51.100.0/24")); err != nil {
		t.Fatal(err)
	}
	if !udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) || udp(t, b.WAN, b.PBX, netlab.Carrier4, ap(netlab.PBX4, 5060)) {
		t.Error("the feed's new content is not the one in force")
	}
	out, err := b.Box.Output(context.Background(), "nft", "list", "sets", "bridge")
	if err != nil {
		t.Skipf("nft not installed: %v", err)
	}
	if strings.Count(string(out), "set feeds") != 4 {
		t.Errorf("want exactly the live slot's four feed sets, kernel has:\n%s", out)
	}

	// Countries: block mode drops the listed ranges...
	r := Defaults()
	r.Countries = CountriesBlock
	if err := b.fw.Apply(r); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.fw.ReplaceSource(Countries, seq("203.0.113.0/24")); err != nil {
		t.Fatal(err)
	}
	if udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("a source in a blocked country reached the PBX")
	}
	if tcp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("a source in a blocked country opened a TCP connection to the PBX")
	}
	// ...and allow-only mode drops everything else, the allowlist still winning.
	r.Countries = CountriesAllowOnly
	r.Allow = mustPrefixes("2001:db8:c::10")
	if err := b.fw.Apply(r); err != nil {
		t.Fatal(err)
	}
	if !udp(t, b.WAN, b.PBX, netlab.Other4, ap(netlab.PBX4, 5060)) {
		t.Error("a source in an allowed country was dropped")
	}
	if udp(t, b.WAN, b.PBX, netlab.Attacker6, ap(netlab.PBX6, 5060)) {
		t.Error("a source outside the allowed countries reached the PBX")
	}
	if !udp(t, b.WAN, b.PBX, netlab.Carrier6, ap(netlab.PBX6, 5060)) {
		t.Error("an allowlisted source outside the allowed countries was dropped")
	}
	bad := append(mustPrefixes("203.0.113.0/24"), netip.Prefix{})
	if _, _, err := b.fw.ReplaceSource(Countries, slices.Values(bad)); err == nil {
		t.Error("ReplaceSource accepted an invalid prefix")
	}
	if !udp(t, b.WAN, b.PBX, netlab.Other4, ap(netlab.PBX4, 5060)) {
		t.Error("a failed replace changed the countries in force")
	}
}

func TestTFTPRateLimit(t *testing.T) {
	b := newTestBox(t, Defaults()) // 10/minute per source, burst 100
	rx, err := b.PBX.ListenUDP(ap(netlab.PBX4, 69))
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	_ = rx.SetReadBuffer(1 << 20)
	send := func(src netip.Addr, n int) {
		tx, err := b.WAN.DialUDP(src, ap(netlab.PBX4, 69))
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Close()
		for i := range n {
			if _, err := tx.Write(binary.BigEndian.AppendUint32([]byte("RRQ "+src.String()+" "), uint32(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	received := func() map[string]int {
		got := map[string]int{}
		buf := make([]byte, 512)
		for {
			_ = rx.SetReadDeadline(time.Now().Add(silence))
			n, err := rx.Read(buf)
			if err != nil {
				return got
			}
			got[strings.Fields(string(buf[:n]))[1]]++
		}
	}
	send(netlab.Attacker4, 150)
	send(netlab.Carrier4, 5)
	got := received()
	if n := got[netlab.Attacker4.String()]; n < 100 || n > 102 {
		t.Errorf("a 150-request burst let %d through, want the burst of 100 (+ at most the rate's share)", n)
	}
	if n := got[netlab.Carrier4.String()]; n != 5 {
		t.Errorf("another source got %d of its 5 requests through: the limit must be per source", n)
	}
	if n := counter(t, b.fw, CounterTFTP); n < 48 {
		t.Errorf("tftp counter = %d, want >= 48", n)
	}
}

func TestDNSGuard(t *testing.T) {
	b := newTestBox(t, Defaults())
	resolver := netip.AddrPortFrom(netlab.Carrier4, 53)
	for _, c := range []struct {
		size int
		pass bool
	}{{512, true}, {2048, true}, {2049, false}, {4000, false}} {
		if got := udpFrom(t, b.WAN, b.PBX, resolver, ap(netlab.PBX4, 40000), c.size); got != c.pass {
			t.Errorf("UDP DNS response of %d bytes: passed=%v, want %v", c.size, got, c.pass)
		}
	}
	if !udpFrom(t, b.WAN, b.PBX, netip.AddrPortFrom(netlab.Carrier6, 53), ap(netlab.PBX6, 40000), 1800) {
		t.Error("an IPv6 UDP DNS response of 1800 bytes was dropped")
	}
	if udpFrom(t, b.WAN, b.PBX, netip.AddrPortFrom(netlab.Carrier6, 53), ap(netlab.PBX6, 40000), 3000) {
		t.Error("an IPv6 UDP DNS response of 3000 bytes passed")
	}
	// Requests to a DNS server on the office side are not responses.
	if !udpFrom(t, b.WAN, b.PBX, netip.AddrPortFrom(netlab.Carrier4, 4000), ap(netlab.PBX4, 53), 3000) {
		t.Error("a large datagram *to* port 53 was dropped")
	}

	// TCP: one response per connection, framed by its 2-byte length.
	for _, c := range []struct {
		server netip.AddrPort
		client netip.Addr
		size   int
		pass   bool
	}{
		{resolver, netlab.PBX4, 1000, true},
		{resolver, netlab.PBX4, 2000, true}, // spans two segments: the second must not be judged
		{resolver, netlab.PBX4, 2049, false},
		{resolver, netlab.PBX4, 6000, false},
		{netip.AddrPortFrom(netlab.Carrier6, 53), netlab.PBX6, 1900, true},
		{netip.AddrPortFrom(netlab.Carrier6, 53), netlab.PBX6, 5000, false},
	} {
		if got := tcpDNS(t, b, c.server, c.client, c.size); got != c.pass {
			t.Errorf("TCP DNS response of %d bytes from %v: passed=%v, want %v", c.size, c.server, got, c.pass)
		}
	}
	if n := counter(t, b.fw, CounterDNS); n < 5 {
		t.Errorf("dns counter = %d, want >= 5", n)
	}
}

// tcpDNS has a server on the wan host answer one DNS-over-TCP response of
// size bytes to a client on the pbx host, and reports whether the client
// read it whole.
func tcpDNS(t *testing.T, b *testBox, server netip.AddrPort, client netip.Addr, size int) bool {
	t.Helper()
	l, err := b.WAN.ListenTCP(server)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	msg := binary.BigEndian.AppendUint16(nil, uint16(size))
	msg = append(msg, bytes.Repeat([]byte{0xab}, size)...)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write(msg)
		_ = c.SetReadDeadline(time.Now().Add(2 * silence))
		_, _ = c.Read(make([]byte, 1)) // hold the connection until the client is done
	}()
	c, err := b.PBX.DialTCP(context.Background(), client, server, silence)
	if err != nil {
		t.Fatalf("connect to %v: %v", server, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(silence))
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	return err == nil && bytes.Equal(got, msg)
}

func TestPortRestriction(t *testing.T) {
	r := Defaults()
	r.Allow = mustPrefixes("198.51.100.10")
	b := newTestBox(t, r)
	for _, port := range []uint16{22, 80, 443, 8080, 8443} {
		if tcp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, port)) {
			t.Errorf("a new TCP connection from the wan reached the office's port %d", port)
		}
	}
	if tcp(t, b.WAN, b.PBX, netlab.Attacker6, ap(netlab.PBX6, 22)) {
		t.Error("a new IPv6 TCP connection from the wan reached SSH")
	}
	if !tcp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 5060)) {
		t.Error("SIP over TCP was dropped")
	}
	if !tcp(t, b.WAN, b.PBX, netlab.Carrier4, ap(netlab.PBX4, 443)) {
		t.Error("an allowlisted carrier could not reach port 443")
	}
	if !tcp(t, b.PBX, b.WAN, netlab.PBX4, ap(netlab.Carrier4, 443)) || !tcp(t, b.PBX, b.WAN, netlab.PBX6, ap(netlab.Carrier6, 22)) {
		t.Error("the office could not open a connection to the internet's web or SSH ports")
	}
	if n := counter(t, b.fw, CounterPort); n < 6 {
		t.Errorf("port counter = %d, want >= 6", n)
	}
}

func TestTrustedOnlySIP(t *testing.T) {
	r := Defaults()
	r.TrustedSIP = true
	r.SIPPorts = []portrange.Range{{First: 5060, Last: 5062}}
	r.Allow = mustPrefixes("198.51.100.10", "2001:db8:c::10")
	b := newTestBox(t, r)
	for _, port := range []uint16{5060, 5062} {
		if udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, port)) {
			t.Errorf("an untrusted source reached SIP port %d over UDP", port)
		}
	}
	if tcp(t, b.WAN, b.PBX, netlab.Attacker6, ap(netlab.PBX6, 5060)) {
		t.Error("an untrusted source reached SIP over TCP")
	}
	if !udp(t, b.WAN, b.PBX, netlab.Carrier4, ap(netlab.PBX4, 5060)) || !udp(t, b.WAN, b.PBX, netlab.Carrier6, ap(netlab.PBX6, 5061)) {
		t.Error("an allowlisted carrier was dropped")
	}
	if !udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 10000)) {
		t.Error("traffic to a non-SIP port (RTP) was dropped")
	}
	if n := counter(t, b.fw, CounterSIPUntrusted); n < 3 {
		t.Errorf("sip_untrusted counter = %d, want >= 3", n)
	}
}

func TestLANSideNeverFiltered(t *testing.T) {
	r := Defaults()
	r.Deny = mustPrefixes("192.0.2.0/24", "2001:db8:1::/64")
	b := newTestBox(t, r)
	if err := b.fw.Ban([]Ban{{Addr: netlab.PBX4, Timeout: time.Minute}, {Addr: netlab.PBX6, Timeout: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	if err := b.fw.Ban([]Ban{{Addr: netlab.Attacker4, Timeout: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	if !udp(t, b.PBX, b.WAN, netlab.PBX4, ap(netlab.Carrier4, 5060)) || !udp(t, b.PBX, b.WAN, netlab.PBX6, ap(netlab.Carrier6, 5060)) {
		t.Error("traffic from the office side was filtered by the deny list or a ban")
	}
	if !udp(t, b.PBX, b.WAN, netlab.PBX4, ap(netlab.Attacker4, 5060)) {
		t.Error("the office could not send to a banned address")
	}
	if !tcp(t, b.PBX, b.WAN, netlab.PBX4, ap(netlab.Carrier4, 22)) {
		t.Error("an office TCP connection to port 22 was dropped")
	}
}

// nftList returns the kernel's view of sipguard's table. Counter values
// are blanked: the hosts' own neighbour discovery can move them at any time.
func nftList(t *testing.T, ns *netlab.NS, args ...string) string {
	t.Helper()
	netlab.RequireTool(t, "nft")
	out, err := ns.Output(context.Background(), "nft", append(args, "list", "table", "bridge", TableName)...)
	if err != nil {
		t.Fatal(err)
	}
	return counterValues.ReplaceAllString(string(out), "packets N bytes N")
}

var counterValues = regexp.MustCompile(`packets \d+ bytes \d+`)

func TestReapplyChangesNothing(t *testing.T) {
	r := Defaults()
	r.Allow = mustPrefixes("198.51.100.0/24", "2001:db8:c::/48")
	r.Deny = mustPrefixes("203.0.113.0/24")
	r.Admin = mustPrefixes("198.51.100.10")
	b := newTestBox(t, r)
	before := nftList(t, b.Box, "-a")
	if err := b.fw.Apply(r); err != nil {
		t.Fatal(err)
	}
	// Lists given in another order, with duplicates, are the same state.
	r2 := r
	r2.Allow = mustPrefixes("2001:db8:c::/48", "198.51.100.0/25", "198.51.100.128/25", "198.51.100.7")
	if err := b.fw.Apply(r2); err != nil {
		t.Fatal(err)
	}
	if after := nftList(t, b.Box, "-a"); after != before {
		t.Errorf("re-applying the same state changed the kernel:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	golden := filepath.Join("testdata", "ruleset.nft")
	got := nftList(t, b.Box)
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestReapplyChangesNothing -update as root to create it)", err)
	}
	if got != string(want) {
		t.Errorf("ruleset differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
}

func TestSettingsChangeRebuildsRulesKeepsBans(t *testing.T) {
	b := newTestBox(t, Defaults())
	if err := b.fw.Ban([]Ban{{Addr: netlab.Attacker4, Timeout: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.fw.ReplaceSource(Feeds, slices.Values(mustPrefixes("203.0.113.77"))); err != nil {
		t.Fatal(err)
	}
	r := Defaults()
	r.TrustedSIP = true
	r.DNSGuard = false
	if err := b.fw.Apply(r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nftList(t, b.Box), "sip_untrusted") {
		t.Error("the trusted-SIP rule is missing after the settings changed")
	}
	if udp(t, b.WAN, b.PBX, netlab.Attacker4, ap(netlab.PBX4, 10000)) || udp(t, b.WAN, b.PBX, netlab.Other4, ap(netlab.PBX4, 10000)) {
		t.Error("a ban or a feed entry was lost when the rules were rebuilt")
	}
}

func TestApplyRejectsBadRuleset(t *testing.T) {
	b := newTestBox(t, Defaults())
	before := nftList(t, b.Box, "-a")
	for name, mutate := range map[string]func(*Ruleset){
		"empty wan":       func(r *Ruleset) { r.WAN = "" },
		"long wan":        func(r *Ruleset) { r.WAN = "averyveryverylongname" },
		"bad prefix":      func(r *Ruleset) { r.Deny = []netip.Prefix{{}} },
		"port zero":       func(r *Ruleset) { r.RestrictedTCP = []portrange.Range{{First: 0, Last: 22}} },
		"reversed range":  func(r *Ruleset) { r.SIPPorts = []portrange.Range{{First: 5062, Last: 5060}} },
		"tftp per":        func(r *Ruleset) { r.TFTP = &RateLimit{Rate: 1, Per: 7 * time.Second} },
		"trusted no port": func(r *Ruleset) { r.TrustedSIP, r.SIPPorts = true, nil },
		"country mode":    func(r *Ruleset) { r.Countries = 9 },
	} {
		r := Defaults()
		mutate(&r)
		if err := b.fw.Apply(r); err == nil {
			t.Errorf("%s: Apply accepted an invalid ruleset", name)
		}
	}
	if after := nftList(t, b.Box, "-a"); after != before {
		t.Errorf("a rejected ruleset changed the kernel:\n%s", after)
	}
}

func TestRemoveLeavesNothing(t *testing.T) {
	b := newTestBox(t, Defaults())
	if err := b.fw.Ban([]Ban{{Addr: netlab.Attacker4, Timeout: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // removing twice is fine
		if err := b.fw.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	if err := TeardownBridge("br0", WithNetNS(b.Box.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := TeardownBridge("br0", WithNetNS(b.Box.Fd())); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
	netlab.RequireTool(t, "nft")
	out, err := b.Box.Output(context.Background(), "nft", "list", "ruleset")
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("nft list ruleset after Remove = %q, %v; want nothing", out, err)
	}
	links, err := b.Box.Output(context.Background(), "ip", "-br", "link")
	if err != nil || strings.Contains(string(links), "br0") {
		t.Errorf("bridge left behind: %s %v", links, err)
	}
}

func TestManagementAddress(t *testing.T) {
	lab := netlab.NewT(t)
	cfg := BridgeConfig{Name: "br0", WAN: netlab.WANPort, LAN: netlab.LANPort, Mgmt: &Mgmt{
		Addrs:    []netip.Prefix{netip.PrefixFrom(netlab.BoxMgmt4, 24), netip.PrefixFrom(netlab.BoxMgmt6, 64)},
		Gateway4: netlab.Gateway4,
	}}
	if err := SetupBridge(cfg, WithNetNS(lab.Box.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitLinks(context.Background()); err != nil {
		t.Fatal(err)
	}
	fw, err := Open(WithNetNS(lab.Box.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	r := Defaults()
	r.Admin = mustPrefixes("198.51.100.10")
	if err := fw.Apply(r); err != nil {
		t.Fatal(err)
	}
	dash4, dash6 := ap(netlab.BoxMgmt4, 8443), ap(netlab.BoxMgmt6, 8443)
	if !tcp(t, lab.PBX, lab.Box, netlab.PBX4, dash4) || !tcp(t, lab.PBX, lab.Box, netlab.PBX6, dash6) {
		t.Error("the management address is not reachable from the lan side")
	}
	if tcp(t, lab.WAN, lab.Box, netlab.Attacker4, dash4) || tcp(t, lab.WAN, lab.Box, netlab.Attacker6, dash6) {
		t.Error("the management address is reachable from the wan by a source outside the admin allowlist")
	}
	if !tcp(t, lab.WAN, lab.Box, netlab.Carrier4, dash4) {
		t.Error("an admin-allowlisted source cannot reach the management address from the wan")
	}
	if !tcp(t, lab.Box, lab.WAN, netlab.BoxMgmt4, ap(netlab.Carrier4, 443)) {
		t.Error("the box cannot open its own connections to the internet (feeds, mail)")
	}
	if n := counter(t, fw, CounterMgmt); n < 2 {
		t.Errorf("mgmt counter = %d, want >= 2", n)
	}
}

func TestSetupBridgeConverges(t *testing.T) {
	lab := netlab.NewT(t)
	ctx := context.Background()
	cfg := BridgeConfig{Name: "br0", WAN: netlab.WANPort, LAN: netlab.LANPort}
	opt := WithNetNS(lab.Box.Fd())
	if err := SetupBridge(cfg, opt); err != nil {
		t.Fatal(err)
	}
	// Break it the ways a crash or a hand edit might.
	for _, args := range [][]string{
		{"link", "set", netlab.WANPort, "nomaster"},
		{"addr", "add", "198.51.100.200/24", "dev", netlab.LANPort},
		{"link", "set", "br0", "down"},
	} {
		if err := netlab.IP(ctx, append([]string{"-n", lab.Box.Name}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := SetupBridge(cfg, opt); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.WaitLinks(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := lab.Box.Output(ctx, "ip", "-j", "-d", "addr", "show")
	if err != nil {
		t.Fatal(err)
	}
	var links []struct {
		Name      string `json:"ifname"`
		Master    string `json:"master"`
		OperState string `json:"operstate"`
		Addrs     []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
		LinkInfo struct {
			Data struct {
				STP      *int `json:"stp_state"`
				Snooping *int `json:"mcast_snooping"`
			} `json:"info_data"`
		} `json:"linkinfo"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, l := range links {
		switch l.Name {
		case netlab.WANPort, netlab.LANPort:
			seen++
			if l.Master != "br0" || len(l.Addrs) != 0 {
				t.Errorf("port %s: master %q, addresses %v; want br0 and none", l.Name, l.Master, l.Addrs)
			}
		case "br0":
			seen++
			d := l.LinkInfo.Data
			if l.OperState != "UP" || d.STP == nil || *d.STP != 0 || d.Snooping == nil || *d.Snooping != 0 || len(l.Addrs) != 0 {
				t.Errorf("br0: state %s, stp %v, snooping %v, addresses %v; want UP, no STP, no snooping, no address", l.OperState, d.STP, d.Snooping, l.Addrs)
			}
		}
	}
	if seen != 3 {
		t.Errorf("found %d of br0, wan, lan", seen)
	}
	if !udp(t, lab.WAN, lab.PBX, netlab.Carrier4, ap(netlab.PBX4, 5060)) {
		t.Error("no forwarding after SetupBridge converged")
	}

	for _, bad := range []BridgeConfig{
		{Name: "br0", WAN: "nosuchport", LAN: netlab.LANPort},
		{Name: "br0", WAN: netlab.WANPort, LAN: netlab.WANPort},
		{Name: "lo", WAN: netlab.WANPort, LAN: netlab.LANPort},
	} {
		if err := SetupBridge(bad, opt); err == nil {
			t.Errorf("SetupBridge(%+v) succeeded", bad)
		}
	}
}
