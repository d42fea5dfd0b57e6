package netfilter

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// groupFwdMask lets the bridge pass the link-local protocols a cable would:
// 802.1X (EAPOL, 01:80:c2:00:00:03) and LLDP (…:0e), so an ISP's port
// authentication and phones' LLDP-MED keep working through the box. STP
// frames pass anyway, since the bridge runs no STP of its own.
const groupFwdMask = 1<<0x03 | 1<<0x0e

// in6AddrGenModeNone stops the kernel from giving an interface an IPv6
// link-local address (IN6_ADDR_GEN_MODE_NONE).
const (
	in6AddrGenModeEUI64 = 0
	in6AddrGenModeNone  = 1
)

// SetupBridge creates the bridge, enslaves both ports and brings them up.
// It is idempotent: run again, or after a crash half way, it converges to
// the same state (and removes addresses that do not belong).
//
// The bridge runs no spanning tree, so ports forward the moment they are up:
// the box is a cable, not a switch that negotiates for 30 seconds. Multicast
// snooping is off, so multicast (paging, provisioning discovery) passes as on
// a wire. The ports never carry an address.
func SetupBridge(c BridgeConfig, opts ...Option) error {
	for _, n := range []struct{ what, name string }{{"bridge", c.Name}, {"wan port", c.WAN}, {"lan port", c.LAN}} {
		if err := ValidIfName(n.name); err != nil {
			return fmt.Errorf("%s: %w", n.what, err)
		}
	}
	if c.WAN == c.LAN || c.WAN == c.Name || c.LAN == c.Name {
		return fmt.Errorf("bridge %s, wan %s and lan %s must be three different interfaces", c.Name, c.WAN, c.LAN)
	}
	h, err := linkHandle(opts)
	if err != nil {
		return err
	}
	defer h.Close()

	wan, err := h.LinkByName(c.WAN)
	if err != nil {
		return fmt.Errorf("wan port %s: %w", c.WAN, err)
	}
	lan, err := h.LinkByName(c.LAN)
	if err != nil {
		return fmt.Errorf("lan port %s: %w", c.LAN, err)
	}
	br, err := ensureBridge(h, c.Name)
	if err != nil {
		return err
	}
	mode, slaac := in6AddrGenModeNone, c.Mgmt != nil && c.Mgmt.SLAAC
	if slaac || c.Mgmt != nil && slices.ContainsFunc(c.Mgmt.Addrs, func(p netip.Prefix) bool { return p.Addr().Is6() }) {
		mode = in6AddrGenModeEUI64 // IPv6 management needs a link-local address
	}
	if err := setAutoconf(c.Name, slaac, opts); err != nil {
		return fmt.Errorf("bridge %s: %w", c.Name, err)
	}
	if err := h.LinkSetIP6AddrGenMode(br, mode); err != nil {
		return fmt.Errorf("bridge %s: IPv6 address mode: %w", c.Name, err)
	}
	for _, port := range []netlink.Link{wan, lan} {
		name := port.Attrs().Name
		if err := h.LinkSetIP6AddrGenMode(port, in6AddrGenModeNone); err != nil {
			return fmt.Errorf("port %s: IPv6 address mode: %w", name, err)
		}
		if err := flushAddrs(h, port, nil, false, false); err != nil {
			return fmt.Errorf("port %s: %w", name, err)
		}
		if port.Attrs().MasterIndex != br.Attrs().Index {
			if err := h.LinkSetMaster(port, br); err != nil {
				return fmt.Errorf("enslave %s to %s: %w", name, c.Name, err)
			}
		}
		if err := h.LinkSetUp(port); err != nil {
			return fmt.Errorf("bring up %s: %w", name, err)
		}
	}
	if err := h.LinkSetUp(br); err != nil {
		return fmt.Errorf("bring up %s: %w", c.Name, err)
	}
	return setMgmt(h, br, c.Mgmt)
}

func ensureBridge(h *netlink.Handle, name string) (netlink.Link, error) {
	off := false
	mask := uint16(groupFwdMask)
	want := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}, MulticastSnooping: &off, GroupFwdMask: &mask}
	link, err := h.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		if err := h.LinkAdd(want); err != nil {
			return nil, fmt.Errorf("create bridge %s: %w", name, err)
		}
	case err != nil:
		return nil, fmt.Errorf("bridge %s: %w", name, err)
	case link.Type() != "bridge":
		return nil, fmt.Errorf("%s exists and is a %s, not a bridge", name, link.Type())
	default:
		want.Index = link.Attrs().Index
		if err := h.LinkModify(want); err != nil {
			return nil, fmt.Errorf("configure bridge %s: %w", name, err)
		}
	}
	link, err = h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", name, err)
	}
	return link, nil
}

// setMgmt gives the bridge exactly the management addresses and default
// routes of m (none when m is nil).
func setMgmt(h *netlink.Handle, br netlink.Link, m *Mgmt) error {
	var (
		keep          []netip.Prefix
		leased, slaac bool
	)
	if m != nil {
		keep, leased, slaac = m.Addrs, m.DHCP, m.SLAAC
	}
	if err := flushAddrs(h, br, keep, leased, slaac); err != nil {
		return fmt.Errorf("bridge %s: %w", br.Attrs().Name, err)
	}
	for _, p := range keep {
		addr := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrReplace(br, addr); err != nil {
			return fmt.Errorf("management address %v: %w", p, err)
		}
	}
	if m == nil {
		return nil
	}
	for _, gw := range []netip.Addr{m.Gateway4, m.Gateway6} {
		if !gw.IsValid() {
			continue
		}
		bits := 0
		dst := &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(bits, 32)}
		if gw.Is6() {
			dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(bits, 128)}
		}
		r := &netlink.Route{LinkIndex: br.Attrs().Index, Dst: dst, Gw: gw.AsSlice()}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("default route via %v: %w", gw, err)
		}
	}
	return nil
}

// flushAddrs removes every address of link that is not in keep, every
// IPv4 address with a lifetime (a DHCP lease) unless keepLeased, and every
// IPv6 one (from a router's advertisement) unless keepSLAAC. IPv6
// link-local addresses of the bridge are the kernel's business and stay.
func flushAddrs(h *netlink.Handle, link netlink.Link, keep []netip.Prefix, keepLeased, keepSLAAC bool) error {
	addrs, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip.Unmap(), ones)
		leased := ip.Is4() && a.ValidLft != permanentLifetime
		autoconf := ip.Is6() && a.Flags&unix.IFA_F_PERMANENT == 0 // the kernel's, from an advertisement
		if slices.Contains(keep, p) || (keepLeased && leased) || (keepSLAAC && autoconf) ||
			(ip.Is6() && ip.IsLinkLocalUnicast() && link.Type() == "bridge") {
			continue
		}
		if err := h.AddrDel(link, &a); err != nil {
			return fmt.Errorf("remove address %v: %w", p, err)
		}
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}

// TeardownBridge deletes the bridge; its ports stay, detached. Deleting a
// bridge that is not there is not an error.
func TeardownBridge(name string, opts ...Option) error {
	h, err := linkHandle(opts)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return fmt.Errorf("%s is a %s, not a bridge", name, link.Type())
	}
	if err := h.LinkDel(link); err != nil {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}

func linkHandle(opts []Option) (*netlink.Handle, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var (
		h   *netlink.Handle
		err error
	)
	// Only routing: with no family given, the library also opens xfrm,
	// which the box's kernel has as a module it does not load.
	if o.netns != 0 {
		h, err = netlink.NewHandleAt(netns.NsHandle(o.netns), unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to rtnetlink: %w", err)
	}
	return h, nil
}
