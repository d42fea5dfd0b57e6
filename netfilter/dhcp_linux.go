package netfilter

import (
	"golang.org/x/sys/unix"

	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
)

// permanentLifetime is how the kernel reports an address without expiry.
const permanentLifetime = 0xffffffff

// RunDHCP keeps a DHCP (IPv4) lease for the management address on iface,
// normally the bridge. It acquires a lease, installs the address with the
// lease's lifetime and a default route through the lease's router, renews
// at the time the server asks (half the lease by default), and starts over
// when renewal fails, retrying with back-off up to a minute. The kernel
// removes the address by itself if its lease runs out.
//
// Each lease installed is reported to report (if not nil), and so is its
// loss (nil) when renewing it and asking again both failed. The first
// failure to get a lease is logged as a warning, the retries that follow
// only at debug level: a box on a network without a DHCP server protects
// all the same, and says it has no address in its status.
//
// RunDHCP returns nil when ctx is canceled, leaving the address in place
// until its lifetime ends.
func RunDHCP(ctx context.Context, iface string, log *slog.Logger, report func(*Lease)) error {
	if report == nil {
		report = func(*Lease) {}
	}
	backoff := time.Second
	var lease *nclient4.Lease
	warned := false
	for {
		next, err := acquire(ctx, iface, lease)
		if err == nil {
			err = installLease(iface, next)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			level := slog.LevelDebug
			if !warned {
				level, warned = slog.LevelWarn, true
			}
			log.Log(ctx, level, "management address: no DHCP lease", "interface", iface, "err", err, "retry", backoff)
			if lease != nil {
				report(nil)
			}
			lease = nil
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(2*backoff, time.Minute)
			continue
		}
		if lease == nil || !lease.ACK.YourIPAddr.Equal(next.ACK.YourIPAddr) {
			log.Info("management address from DHCP", "interface", iface, "addr", next.ACK.YourIPAddr,
				"router", next.ACK.Router(), "lease", next.ACK.IPAddressLeaseTime(time.Hour))
		}
		lease, backoff, warned = next, time.Second, false
		report(leaseOf(next))
		if !sleep(ctx, renewAfter(lease.ACK)) {
			return nil
		}
	}
}

// acquire renews lease if there is one, and otherwise (or if renewing
// fails) asks for a new one.
func acquire(ctx context.Context, iface string, lease *nclient4.Lease) (*nclient4.Lease, error) {
	c, err := nclient4.New(iface, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(2))
	if err != nil {
		return nil, fmt.Errorf("DHCP client on %s: %w", iface, err)
	}
	defer c.Close()
	// The time servers too: the box sets its clock by them.
	want := dhcpv4.WithRequestedOptions(dhcpv4.OptionNTPServers)
	if lease != nil {
		if renewed, err := c.Renew(ctx, lease, want); err == nil {
			return renewed, nil
		}
	}
	lease, err = c.Request(ctx, want)
	if err != nil {
		return nil, fmt.Errorf("DHCP request on %s: %w", iface, err)
	}
	return lease, nil
}

// installLease puts the leased address on iface (replacing an older leased
// one) and the default route through the lease's router.
func installLease(iface string, lease *nclient4.Lease) error {
	ack := lease.ACK
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || !ip.IsGlobalUnicast() {
		return fmt.Errorf("DHCP server offered %v, not a usable address", ack.YourIPAddr)
	}
	mask := ack.SubnetMask()
	if mask == nil {
		mask = ack.YourIPAddr.DefaultMask()
	}
	ones, bits := net.IPMask(mask).Size()
	if bits != 32 || ones == 0 {
		return fmt.Errorf("DHCP server offered netmask %v", mask)
	}
	lifetime := int(ack.IPAddressLeaseTime(time.Hour) / time.Second)

	h, err := netlink.NewHandle(unix.NETLINK_ROUTE) // only routing: xfrm may be a module not loaded
	if err != nil {
		return fmt.Errorf("connect to rtnetlink: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("interface %s: %w", iface, err)
	}
	want := netip.PrefixFrom(ip, ones)
	old, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", iface, err)
	}
	for _, a := range old {
		p, _ := netip.AddrFromSlice(a.IP)
		o, _ := a.Mask.Size()
		if a.ValidLft != permanentLifetime && netip.PrefixFrom(p.Unmap(), o) != want {
			if err := h.AddrDel(link, &a); err != nil {
				return fmt.Errorf("remove old leased address %v: %w", p, err)
			}
		}
	}
	addr := &netlink.Addr{IPNet: ipNet(want), ValidLft: lifetime, PreferedLft: lifetime}
	if err := h.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("leased address %v: %w", want, err)
	}
	if routers := ack.Router(); len(routers) > 0 {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, Gw: routers[0]}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("default route via %v: %w", routers[0], err)
		}
	}
	return nil
}

// leaseOf is what lease gives the box.
func leaseOf(lease *nclient4.Lease) *Lease {
	ack := lease.ACK
	addrs := func(ips []net.IP) []netip.Addr {
		var out []netip.Addr
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip.To4()); ok && a.IsValid() && !a.IsUnspecified() {
				out = append(out, a)
			}
		}
		return out
	}
	l := &Lease{DNS: addrs(ack.DNS()), NTP: addrs(ack.NTPServers()),
		Expires: lease.CreationTime.Add(ack.IPAddressLeaseTime(time.Hour))}
	if ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4()); ok {
		mask := ack.SubnetMask()
		if mask == nil {
			mask = ack.YourIPAddr.DefaultMask()
		}
		ones, _ := net.IPMask(mask).Size()
		l.Addr = netip.PrefixFrom(ip, ones)
	}
	if r := addrs(ack.Router()); len(r) > 0 {
		l.Router = r[0]
	}
	if s, ok := netip.AddrFromSlice(ack.ServerIdentifier().To4()); ok {
		l.Server = s
	}
	return l
}

// renewAfter is when to renew: the server's T1, or half the lease, never
// sooner than ten seconds.
func renewAfter(ack *dhcpv4.DHCPv4) time.Duration {
	d := ack.IPAddressRenewalTime(0)
	if d <= 0 {
		d = ack.IPAddressLeaseTime(time.Hour) / 2
	}
	return max(d, 10*time.Second)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
