package netmgmt

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
)

// HTTPSService is the DNS-SD service the box announces for its dashboard.
const HTTPSService = "_https._tcp"

// zone answers for the box's name and its dashboard's service, from the
// records of the addresses in force (none: no answer at all).
type zone struct {
	svc atomic.Pointer[mdns.MDNSService]
}

// Records answers q.
func (z *zone) Records(q dns.Question) []dns.RR {
	svc := z.svc.Load()
	if svc == nil {
		return nil
	}
	return svc.Records(q)
}

// responder answers mDNS on one interface for name.local: A and AAAA
// records of the interface's management addresses, and the dashboard's
// service (_https._tcp, port 443 by default). It answers only while there
// is an address to give.
type responder struct {
	iface string
	name  string // "sipguard": the host is name.local
	port  int
	log   *slog.Logger

	mu    sync.Mutex
	srv   *mdns.Server
	addrs []netip.Addr
	zone  zone
}

// host is the name answered for, as a fully qualified DNS name.
func (r *responder) host() string { return r.name + ".local." }

// update answers with addrs from now on; with none, it stops answering
// (and leaves the multicast groups).
func (r *responder) update(addrs []netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Equal(addrs, r.addrs) && (r.srv != nil) == (len(addrs) > 0) {
		return nil
	}
	if len(addrs) == 0 {
		r.stop()
		return nil
	}
	ips := make([]net.IP, len(addrs))
	for i, a := range addrs {
		ips[i] = a.AsSlice()
	}
	svc, err := mdns.NewMDNSService(r.name, HTTPSService, "local.", r.host(), r.port, ips, []string{"path=/"})
	if err != nil {
		r.stop()
		return fmt.Errorf("mDNS records of %s: %w", r.host(), err)
	}
	if r.srv != nil && hasIPv4(r.addrs) == hasIPv4(addrs) {
		// The groups joined still hold: the new records are answered at
		// once, and no query is lost to a restart.
		r.zone.svc.Store(svc)
		r.addrs = slices.Clone(addrs)
		r.log.Info("answering mDNS", "name", r.name+".local", "interface", r.iface, "addrs", addrs)
		return nil
	}
	r.stop()
	ifi, err := net.InterfaceByName(r.iface)
	if err != nil {
		return fmt.Errorf("mDNS on %s: %w", r.iface, err)
	}
	r.zone.svc.Store(svc)
	// The server joins the mDNS groups on this interface alone; it is
	// started again when the interface gains or loses its IPv4 addresses,
	// since joining the IPv4 group needs one.
	srv, err := mdns.NewServer(&mdns.Config{Zone: &r.zone, Iface: ifi, Logger: slog.NewLogLogger(r.log.Handler(), slog.LevelDebug)})
	if err != nil {
		r.zone.svc.Store(nil)
		return fmt.Errorf("mDNS on %s: %w", r.iface, err)
	}
	r.srv, r.addrs = srv, slices.Clone(addrs)
	r.log.Info("answering mDNS", "name", r.name+".local", "interface", r.iface, "addrs", addrs)
	return nil
}

// rename answers for name.local from the next update on.
func (r *responder) rename(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name != r.name {
		r.name = name
		r.stop()
	}
}

// answering is the name answered for, or "" while there is none.
func (r *responder) answering() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv == nil {
		return ""
	}
	return r.name + ".local"
}

// stop stops answering; r.mu is held.
func (r *responder) stop() {
	r.zone.svc.Store(nil)
	if r.srv != nil {
		_ = r.srv.Shutdown()
		r.srv = nil
	}
	r.addrs = nil
}

// close stops answering.
func (r *responder) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stop()
}

// hasIPv4 reports whether addrs hold an IPv4 address.
func hasIPv4(addrs []netip.Addr) bool {
	return slices.ContainsFunc(addrs, netip.Addr.Is4)
}
