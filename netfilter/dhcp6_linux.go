package netfilter

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/nclient6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// dhcp6RetryMax bounds the back-off of DHCPv6: most offices offer none
// (SLAAC alone), and the box asks again at most every five minutes.
const dhcp6RetryMax = 5 * time.Minute

// RunDHCPv6 keeps DHCPv6 addresses (IA_NA) on iface, normally the bridge,
// where a server offers them. Each address goes on iface as a /128 with
// the lifetimes the server gave (the on-link prefix comes from the
// router's advertisement), and the exchange runs again at the server's
// T1. The client's identifier is the interface's MAC address (DUID-LL),
// so a server gives the same address each time.
//
// Without a server, RunDHCPv6 asks again with back-off up to five
// minutes, warning once. It returns nil when ctx is canceled, leaving the
// addresses until their lifetime ends.
func RunDHCPv6(ctx context.Context, iface string, log *slog.Logger) error {
	backoff, warned := time.Second, false
	var held []netip.Addr
	for {
		addrs, renew, err := requestV6(ctx, iface)
		if err == nil {
			err = installV6(iface, addrs, held)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			level := slog.LevelDebug
			if !warned {
				level, warned = slog.LevelWarn, true
			}
			log.Log(ctx, level, "management address: no DHCPv6 lease", "interface", iface, "err", err, "retry", backoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(2*backoff, dhcp6RetryMax)
			continue
		}
		got := make([]netip.Addr, len(addrs))
		for i, a := range addrs {
			got[i], _ = netip.AddrFromSlice(a.IPv6Addr)
		}
		if !slices.Equal(got, held) {
			log.Info("management address from DHCPv6", "interface", iface, "addrs", got, "renew", renew)
		}
		held, backoff, warned = got, time.Second, false
		if !sleep(ctx, renew) {
			return nil
		}
	}
}

// requestV6 runs a Solicit/Advertise/Request/Reply exchange and returns
// the addresses of the reply and when to ask again.
func requestV6(ctx context.Context, iface string) ([]*dhcpv6.OptIAAddress, time.Duration, error) {
	c, err := nclient6.New(iface, nclient6.WithTimeout(2*time.Second), nclient6.WithRetry(2))
	if err != nil {
		return nil, 0, fmt.Errorf("DHCPv6 client on %s: %w", iface, err)
	}
	defer c.Close()
	id := dhcpv6.WithClientID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: c.InterfaceAddr()})
	adv, err := c.Solicit(ctx, id)
	if err != nil {
		return nil, 0, fmt.Errorf("DHCPv6 solicit on %s: %w", iface, err)
	}
	reply, err := c.Request(ctx, adv)
	if err != nil {
		return nil, 0, fmt.Errorf("DHCPv6 request on %s: %w", iface, err)
	}
	if st := reply.Options.Status(); st != nil && st.StatusCode != iana.StatusSuccess {
		return nil, 0, fmt.Errorf("DHCPv6 server on %s: %v", iface, st)
	}
	ia := reply.Options.OneIANA()
	if ia == nil || len(ia.Options.Addresses()) == 0 {
		return nil, 0, fmt.Errorf("DHCPv6 server on %s gave no address", iface)
	}
	addrs := ia.Options.Addresses()
	renew := ia.T1
	if renew <= 0 {
		renew = addrs[0].ValidLifetime / 2
	}
	return addrs, max(renew, 10*time.Second), nil
}

// installV6 puts addrs on iface with their lifetimes, and removes the
// addresses of held that the server no longer gives.
func installV6(iface string, addrs []*dhcpv6.OptIAAddress, held []netip.Addr) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("connect to rtnetlink: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("interface %s: %w", iface, err)
	}
	var got []netip.Addr
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IPv6Addr)
		if !ok || !ip.Is6() || ip.Is4In6() || !ip.IsGlobalUnicast() {
			return fmt.Errorf("DHCPv6 server offered %v, not a usable address", a.IPv6Addr)
		}
		valid, pref := lifetime(a.ValidLifetime), lifetime(a.PreferredLifetime)
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(128, 128)}, ValidLft: valid, PreferedLft: min(pref, valid),
			Flags: unix.IFA_F_NOPREFIXROUTE}
		if err := h.AddrReplace(link, addr); err != nil {
			return fmt.Errorf("DHCPv6 address %v: %w", ip, err)
		}
		got = append(got, ip)
	}
	for _, old := range held {
		if !slices.Contains(got, old) {
			_ = h.AddrDel(link, &netlink.Addr{IPNet: &net.IPNet{IP: old.AsSlice(), Mask: net.CIDRMask(128, 128)}})
		}
	}
	return nil
}

// lifetime is d in whole seconds as the kernel takes it, "infinite"
// (0xffffffff) kept.
func lifetime(d time.Duration) int {
	s := d / time.Second
	if s >= permanentLifetime || s < 0 {
		return permanentLifetime
	}
	return int(s)
}
