package web

import (
	"context"
	"net/netip"
)

// Side is the port a request's source is behind.
type Side int

const (
	// WAN is the modem's side, or unknown: what cannot be placed is
	// treated as the wan (fail closed).
	WAN Side = iota
	// LAN is the office's side.
	LAN
)

func (s Side) String() string {
	if s == LAN {
		return "lan"
	}
	return "wan"
}

// Sides tells which port a source address is behind.
type Sides interface {
	Side(ctx context.Context, src netip.Addr) Side
}

// SidesFunc is a Sides of a function.
type SidesFunc func(ctx context.Context, src netip.Addr) Side

// Side implements Sides.
func (f SidesFunc) Side(ctx context.Context, src netip.Addr) Side { return f(ctx, src) }
