package netlab

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// A second site: another office behind its own box, on the same internet
// as a lab's. Its box's wan port is linked to the lab's wan host on a
// second interface, so the lab's internet hosts (the attacker, a server
// run on the wan host) reach both offices:
//
//	wan host                                     site box (bridge br0)     site pbx host
//	eth1 198.51.100.129/25 ───── veth ─────── wan ─ br0 ─ lan ───── veth ───── eth0 198.51.100.140/25
//	                                                                           default via 198.51.100.129
var (
	SiteGateway4 = netip.MustParseAddr("198.51.100.129")
	SiteBoxMgmt4 = netip.MustParseAddr("198.51.100.130")
	SitePBX4     = netip.MustParseAddr("198.51.100.140")
)

// SiteIf is the wan host's interface to the second site.
const SiteIf = "eth1"

// Site is a second office of a lab: a box and a pbx host.
type Site struct {
	Box, PBX *NS
	// Lab is the site seen as a lab of its own: the shared wan host, the
	// site's box and pbx host. Closing it would close the wan host: close
	// the Site instead.
	Lab *Lab
}

// AddSite adds a second site to l, its namespace names starting with
// prefix. On error, whatever was created is removed again.
func (l *Lab) AddSite(ctx context.Context, prefix string) (s *Site, err error) {
	s = &Site{}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
			s = nil
		}
	}()
	for _, p := range []struct {
		dst  **NS
		role string
	}{{&s.Box, "sbox"}, {&s.PBX, "spbx"}} {
		ns, err := newNS(ctx, prefix+"-"+p.role)
		if err != nil {
			return s, err
		}
		if _, err := ns.Output(ctx, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"); err != nil {
			return s, err
		}
		*p.dst = ns
	}
	w, b, p := l.WAN.Name, s.Box.Name, s.PBX.Name
	for _, args := range [][]string{
		{"-n", w, "link", "add", SiteIf, "type", "veth", "peer", "name", WANPort, "netns", b},
		{"-n", p, "link", "add", HostIf, "type", "veth", "peer", "name", LANPort, "netns", b},
		{"-n", b, "link", "set", "lo", "up"},
		{"-n", p, "link", "set", "lo", "up"},
		{"-n", w, "addr", "add", SiteGateway4.String() + "/25", "dev", SiteIf},
		{"-n", p, "addr", "add", SitePBX4.String() + "/25", "dev", HostIf},
		{"-n", w, "link", "set", SiteIf, "up"},
		{"-n", p, "link", "set", HostIf, "up"},
		{"-n", p, "route", "add", "default", "via", SiteGateway4.String()},
	} {
		if err := IP(ctx, args...); err != nil {
			return s, err
		}
	}
	s.Lab = &Lab{WAN: l.WAN, Box: s.Box, PBX: s.PBX}
	return s, nil
}

// Close deletes the site's namespaces; the wan host's link to it goes
// with them.
func (s *Site) Close() error {
	var errs []error
	for _, ns := range []*NS{s.Box, s.PBX} {
		if ns != nil {
			errs = append(errs, ns.close())
		}
	}
	return errors.Join(errs...)
}

// AddSiteT is AddSite for a test: the site is removed when the test ends.
func AddSiteT(t testing.TB, l *Lab) *Site {
	t.Helper()
	s, err := l.AddSite(context.Background(), UniquePrefix())
	if err != nil {
		t.Fatalf("build second site: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("remove second site: %v", err)
		}
	})
	return s
}
