package web

import (
	"bytes"
	"context"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// BridgeSides places a source by the bridge's tables: its address to a
// MAC by the bridge's neighbour table (ARP, NDP), the MAC to a port by the
// bridge's forwarding database. A source found behind the lan port is the
// office; any other, or one not found (not a neighbour: behind a router,
// on the wan), is the wan.
type BridgeSides struct {
	Bridge, LAN string // interface names
}

// Side implements Sides.
func (b BridgeSides) Side(_ context.Context, src netip.Addr) Side {
	br, err := netlink.LinkByName(b.Bridge)
	if err != nil {
		return WAN
	}
	lan, err := netlink.LinkByName(b.LAN)
	if err != nil {
		return WAN
	}
	family := unix.AF_INET
	if src.Is6() {
		family = unix.AF_INET6
	}
	neighs, err := netlink.NeighList(br.Attrs().Index, family)
	if err != nil {
		return WAN
	}
	var mac net.HardwareAddr
	for _, n := range neighs {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == src && len(n.HardwareAddr) == 6 &&
			n.State&(unix.NUD_INCOMPLETE|unix.NUD_FAILED) == 0 {
			mac = n.HardwareAddr
		}
	}
	if mac == nil {
		return WAN
	}
	fdb, err := netlink.NeighList(0, unix.AF_BRIDGE)
	if err != nil {
		return WAN
	}
	side := WAN
	for _, f := range fdb {
		if f.MasterIndex != br.Attrs().Index || !bytes.Equal(f.HardwareAddr, mac) {
			continue
		}
		if f.LinkIndex != lan.Attrs().Index {
			return WAN // seen behind another port: not the office
		}
		side = LAN
	}
	return side
}
