package main

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/netmgmt"
	"github.com/sipguard/sipguard/leds"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// officeNTP is the lab's time server: chronyd on the office host, serving
// the host's own clock, which it never touches (-x).
func startNTPServer(t *testing.T, lab *netlab.Lab) {
	t.Helper()
	chronyd := netlab.RequireTool(t, "chronyd")
	dir := t.TempDir()
	conf := filepath.Join(dir, "chrony.conf")
	// A local reference at stratum 8, answering anyone; no command socket,
	// no files outside dir.
	err := os.WriteFile(conf, []byte(strings.Join([]string{
		"local stratum 8", "allow all", "port 123", "bindaddress " + netlab.PBX4.String(),
		"cmdport 0", "bindcmdaddress /", "pidfile " + filepath.Join(dir, "chronyd.pid"),
	}, "\n")+"\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	log := &netlab.Buffer{}
	cmd := lab.PBX.Command(context.Background(), chronyd, "-x", "-d", "-u", "root", "-f", conf)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netlab.Stop(cmd, 5*time.Second) })
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), "Disabled control of system clock") {
		if time.Now().After(deadline) {
			t.Fatalf("chronyd did not say it leaves the clock alone (-x):\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startOfficeDHCPServer runs dnsmasq on the office host: DHCP naming the
// office's time server (option 42), and router advertisements for the
// office's IPv6 network: SLAAC, and DHCPv6 addresses too.
func startOfficeDHCPServer(t *testing.T, lab *netlab.Lab) {
	t.Helper()
	dnsmasq := netlab.RequireTool(t, "dnsmasq")
	dir := t.TempDir()
	cmd := lab.PBX.Command(context.Background(), dnsmasq, "--keep-in-foreground", "--user=root", "--port=0",
		"--no-resolv", "--no-hosts", "--bind-interfaces", "--interface="+netlab.HostIf,
		"--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,2m",
		"--dhcp-option=option:router,"+netlab.Gateway4.String(),
		"--dhcp-option=option:ntp-server,"+netlab.PBX4.String(),
		"--enable-ra", "--dhcp-range=2001:db8:1::100,2001:db8:1::1ff,slaac,64,2m", "--ra-param="+netlab.HostIf+",4",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "pid"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netlab.Stop(cmd, 5*time.Second) })
}

// mgmtStatus reads the daemon's management status.
func mgmtStatus(t *testing.T, lab *netlab.Lab, bin, sock string) api.Management {
	t.Helper()
	var st api.Status
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Management == nil {
		t.Fatal("status without management")
	}
	return *st.Management
}

// mdnsQuery asks for name's A record from src in ns, to the mDNS group,
// and returns the addresses answered within wait.
func mdnsQuery(t *testing.T, ns *netlab.NS, src netip.Addr, name string, wait time.Duration) []netip.Addr {
	return mdnsQueryType(t, ns, src, name, dns.TypeA, wait)
}

// mdnsQueryType is mdnsQuery for records of type qtype (A or AAAA).
func mdnsQueryType(t *testing.T, ns *netlab.NS, src netip.Addr, name string, qtype uint16, wait time.Duration) []netip.Addr {
	t.Helper()
	c, err := ns.ListenUDP(netip.AddrPortFrom(src, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = false
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	// As a resolver does (RFC 6762, 5.2), the question is asked again
	// while no answer comes: multicast over UDP may be lost.
	end := time.Now().Add(wait)
	var got []netip.Addr
	buf := make([]byte, 9000)
	for time.Now().Before(end) {
		if _, err := c.WriteTo(b, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}); err != nil {
			t.Fatal(err)
		}
		next := time.Now().Add(time.Second)
		if next.After(end) {
			next = end
		}
		_ = c.SetReadDeadline(next)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			var m dns.Msg
			if m.Unpack(buf[:n]) != nil || !m.Response {
				continue
			}
			for _, rr := range m.Answer {
				switch a := rr.(type) {
				case *dns.A:
					if strings.EqualFold(a.Hdr.Name, name) {
						ip, _ := netip.AddrFromSlice(a.A.To4())
						got = append(got, ip)
					}
				case *dns.AAAA:
					if strings.EqualFold(a.Hdr.Name, name) {
						ip, _ := netip.AddrFromSlice(a.AAAA)
						got = append(got, ip)
					}
				}
			}
			if len(got) > 0 {
				return got
			}
		}
	}
	return got
}

// The box out of the box on the office network: its address from the
// office's DHCP server, its time from the office's NTP server, IPv6
// addresses from the router's advertisements and from DHCPv6, and its name
// by mDNS, to the office only.
func TestDaemonOnTheOfficeNetwork(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startNTPServer(t, lab)
	startOfficeDHCPServer(t, lab)
	sock := filepath.Join(t.TempDir(), "api.sock")
	// The configuration's defaults take the addresses; the time servers
	// are the lease's alone, and the host's clock is never set from a test
	// (the server serves the host's own time, so it would not be anyway).
	stop := startDaemon(t, lab, bin, "--api", sock, "--ntp", "none", "--no-set-clock")

	addr := leasedAddr(t, lab)
	if addr.Compare(netip.MustParseAddr("192.0.2.100")) < 0 || addr.Compare(netip.MustParseAddr("192.0.2.150")) > 0 {
		t.Fatalf("leased %v, outside the office server's range", addr)
	}
	var m api.Management
	deadline := time.Now().Add(20 * time.Second)
	for {
		m = mgmtStatus(t, lab, bin, sock)
		slaac, dhcp6 := false, false
		for _, a := range m.Addresses {
			p := netip.MustParsePrefix(a.Address)
			switch {
			case a.Source == "slaac" && p.Bits() == 64 && netip.MustParsePrefix("2001:db8:1::/64").Contains(p.Addr()):
				slaac = true
			case a.Source == "dhcp" && p.Bits() == 128 && p.Addr().Compare(netip.MustParseAddr("2001:db8:1::100")) >= 0 &&
				p.Addr().Compare(netip.MustParseAddr("2001:db8:1::1ff")) <= 0:
				dhcp6 = true
			}
		}
		if m.NTP.Synced && slaac && dhcp6 && m.MDNS != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %+v\n%s", m, stop())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if m.State != "ok" || m.Lease == nil || m.Lease.Address != addr.String()+"/24" || len(m.Lease.NTP) != 1 || m.Lease.NTP[0] != netlab.PBX4.String() {
		t.Errorf("management status: %+v, lease %+v", m, m.Lease)
	}
	if m.NTP.Server != netlab.PBX4.String() || m.NTP.Stepped || !m.Plausible {
		t.Errorf("NTP: %+v, plausible %v; want synced with the office's server, not stepped", m.NTP, m.Plausible)
	}
	if off, err := time.ParseDuration(m.NTP.Offset); err != nil || off.Abs() >= time.Second {
		t.Errorf("NTP offset %q (%v): the server serves the host's own clock", m.NTP.Offset, err)
	}
	if m.MDNS != "sipguard.local" {
		t.Errorf("mDNS name %q", m.MDNS)
	}

	got := mdnsQuery(t, lab.PBX, netlab.PBX4, "sipguard.local.", 3*time.Second)
	if len(got) != 1 || got[0] != addr {
		t.Errorf("mDNS from the office answered %v, want the leased %v", got, addr)
	}
	var want6 []netip.Addr
	for _, a := range m.Addresses {
		if p := netip.MustParsePrefix(a.Address); p.Addr().Is6() {
			want6 = append(want6, p.Addr())
		}
	}
	got6 := mdnsQueryType(t, lab.PBX, netlab.PBX4, "sipguard.local.", dns.TypeAAAA, 3*time.Second)
	slices.SortFunc(got6, netip.Addr.Compare)
	slices.SortFunc(want6, netip.Addr.Compare)
	if !slices.Equal(got6, want6) {
		t.Errorf("mDNS AAAA from the office answered %v, want the SLAAC and DHCPv6 addresses %v", got6, want6)
	}
	if got := mdnsQuery(t, lab.WAN, netlab.Gateway4, "sipguard.local.", time.Second); len(got) != 0 {
		t.Errorf("mDNS from the wan side answered %v", got)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "status"); !strings.Contains(out, "synced with "+netlab.PBX4.String()) || !strings.Contains(out, "(dhcp)") {
		t.Errorf("status lacks the management state:\n%s", out)
	}
}

// Without a DHCP server, the box protects all the same, and says it has
// no address.
func TestDaemonWithoutDHCPServer(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	sock := filepath.Join(t.TempDir(), "api.sock")
	startDaemon(t, lab, bin, "--api", sock, "--ntp", "none", "--no-set-clock")
	m := mgmtStatus(t, lab, bin, sock)
	if m.State != "no address" || len(m.Addresses) != 0 || m.MDNS != "" || m.NTP.Synced {
		t.Errorf("without a DHCP server: %+v", m)
	}
	if got := mdnsQuery(t, lab.PBX, netlab.PBX4, "sipguard.local.", time.Second); len(got) != 0 {
		t.Errorf("mDNS answered %v without an address", got)
	}
	// After the grace a DHCP server gets at boot, the LEDs say it too,
	// below an attack: the box protects.
	deadline := time.Now().Add(netmgmt.NoAddressGrace + 15*time.Second)
	for {
		b := readLEDs(t, lab, bin, sock)
		if b.LEDs.Mode == leds.NoAddress {
			if b.LEDs.Faults != leds.FaultNoAddress {
				t.Errorf("faults %v, want no-address alone", b.LEDs.Faults)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LEDs never showed no-address: %+v", *b.LEDs)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "leds"); !strings.Contains(out, "no-address") {
		t.Errorf("sipguard leds:\n%s", out)
	}
	attack(t, lab, "svmap", "-p", "5060", netlab.PBX4.String())
	waitLEDs(t, lab, bin, sock, "the attack over the missing address", func(b api.Board) bool { return b.LEDs.Mode == leds.Attack })
}
