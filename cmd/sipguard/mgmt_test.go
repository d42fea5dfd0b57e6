package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// startDHCPServer runs dnsmasq as the modem's DHCP server on the wan host.
func startDHCPServer(t *testing.T, lab *netlab.Lab) {
	t.Helper()
	dnsmasq := netlab.RequireTool(t, "dnsmasq")
	dir := t.TempDir()
	cmd := lab.WAN.Command(context.Background(), dnsmasq, "--keep-in-foreground", "--user=root", "--port=0",
		"--no-resolv", "--no-hosts", "--bind-interfaces", "--interface="+netlab.HostIf,
		"--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,2m",
		"--dhcp-option=option:router,"+netlab.Gateway4.String(),
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "pid"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netlab.Stop(cmd, 5*time.Second) })
}

// leasedAddr waits for the bridge to carry an address with a lifetime.
func leasedAddr(t *testing.T, lab *netlab.Lab) netip.Addr {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out, err := lab.Box.Output(context.Background(), "ip", "-j", "-4", "addr", "show", "dev", "br0")
		if err != nil {
			t.Fatal(err)
		}
		var links []struct {
			Addrs []struct {
				Local    string `json:"local"`
				ValidLft uint64 `json:"valid_life_time"`
			} `json:"addr_info"`
		}
		if err := json.Unmarshal(out, &links); err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			for _, a := range l.Addrs {
				if a.ValidLft > 0 && a.ValidLft <= 120 {
					return netip.MustParseAddr(a.Local)
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the bridge got no DHCP address within 15s")
	return netip.Addr{}
}

func TestDaemonManagementAddressByDHCP(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startDHCPServer(t, lab)
	startDaemon(t, lab, bin, "--mgmt-dhcp", "--admin", netlab.Carrier4.String())

	addr := leasedAddr(t, lab)
	if addr.Compare(netip.MustParseAddr("192.0.2.100")) < 0 || addr.Compare(netip.MustParseAddr("192.0.2.150")) > 0 {
		t.Fatalf("leased %v, outside the server's range", addr)
	}
	routes, err := lab.Box.Output(context.Background(), "ip", "-4", "route", "show", "default")
	if err != nil || !strings.Contains(string(routes), "via "+netlab.Gateway4.String()+" dev br0") {
		t.Errorf("default route: %q, %v", routes, err)
	}

	l, err := lab.Box.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 8443))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, "dashboard")
			c.Close()
		}
	}()
	dash := netip.AddrPortFrom(addr, 8443)
	for _, c := range []struct {
		name string
		from *netlab.NS
		src  netip.Addr
		want bool
	}{
		{"the office", lab.PBX, netlab.PBX4, true},
		{"an admin on the wan", lab.WAN, netlab.Carrier4, true},
		{"anyone else on the wan", lab.WAN, netlab.Attacker4, false},
	} {
		if got := dials(c.from, c.src, dash); got != c.want {
			t.Errorf("%s reaching the DHCP management address: %v, want %v", c.name, got, c.want)
		}
	}
}

func dials(from *netlab.NS, src netip.Addr, dst netip.AddrPort) bool {
	c, err := from.DialTCP(context.Background(), src, dst, 300*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	b := make([]byte, 9)
	n, _ := c.Read(b)
	return string(b[:n]) == "dashboard"
}
