//go:build !linux

package web

import (
	"context"
	"net/netip"
)

// BridgeSides places every source on the wan: only Linux has the box's
// bridge.
type BridgeSides struct {
	Bridge, LAN string
}

// Side implements Sides.
func (BridgeSides) Side(context.Context, netip.Addr) Side { return WAN }
