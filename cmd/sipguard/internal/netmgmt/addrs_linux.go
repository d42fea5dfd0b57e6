package netmgmt

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// bridgeAddrs reads iface's usable addresses (not link-local, not still
// checked for duplicates) with their source, and its default gateways.
func bridgeAddrs(iface string, fixed []netip.Prefix) ([]Address, []netip.Addr, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to rtnetlink: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByName(iface)
	if err != nil {
		return nil, nil, fmt.Errorf("interface %s: %w", iface, err)
	}
	list, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, nil, fmt.Errorf("addresses of %s: %w", iface, err)
	}
	var addrs []Address
	for _, a := range list {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
			continue
		}
		ip = ip.Unmap()
		if !ip.IsGlobalUnicast() {
			continue // link-local, loopback, multicast
		}
		ones, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip, ones)
		src := SourceFixed
		switch {
		case slices.Contains(fixed, p) || a.Flags&unix.IFA_F_PERMANENT != 0:
			// Added by hand: the kernel marks its own (SLAAC) and ours
			// with a lifetime (DHCP) otherwise.
		case ip.Is4() || ones == 128: // DHCPv6 gives single addresses
			src = SourceDHCP
		default:
			src = SourceSLAAC
		}
		addrs = append(addrs, Address{Prefix: p, Source: src})
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{LinkIndex: link.Attrs().Index}, netlink.RT_FILTER_OIF)
	if err != nil {
		return addrs, nil, fmt.Errorf("routes of %s: %w", iface, err)
	}
	var gws []netip.Addr
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		if gw, ok := netip.AddrFromSlice(r.Gw); ok && !slices.Contains(gws, gw.Unmap()) {
			gws = append(gws, gw.Unmap())
		}
	}
	return addrs, gws, nil
}
