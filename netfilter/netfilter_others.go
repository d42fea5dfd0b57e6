//go:build !linux

package netfilter

import (
	"context"
	"iter"
	"log/slog"
	"net/netip"
)

// Firewall is only implemented on Linux.
type Firewall struct{}

// Open fails with ErrUnsupported.
func Open(...Option) (*Firewall, error) { return nil, ErrUnsupported }

func (*Firewall) Close() error                         { return ErrUnsupported }
func (*Firewall) Apply(Ruleset) error                  { return ErrUnsupported }
func (*Firewall) Remove() error                        { return ErrUnsupported }
func (*Firewall) Ban([]Ban) error                      { return ErrUnsupported }
func (*Firewall) Unban([]netip.Prefix) error           { return ErrUnsupported }
func (*Firewall) Hold([]Ban) error                     { return ErrUnsupported }
func (*Firewall) RemovePermanent([]netip.Prefix) error { return ErrUnsupported }
func (*Firewall) Bans() ([]BanEntry, error)            { return nil, ErrUnsupported }
func (*Firewall) Stats() (*Stats, error)               { return nil, ErrUnsupported }
func (*Firewall) SetCrowdSec([]Ban) (int, int, error)  { return 0, 0, ErrUnsupported }
func (*Firewall) CrowdSecBans() ([]BanEntry, error)    { return nil, ErrUnsupported }
func (*Firewall) ReplaceSource(Source, iter.Seq[netip.Prefix]) (int, int, error) {
	return 0, 0, ErrUnsupported
}

// SetupBridge fails with ErrUnsupported.
func SetupBridge(BridgeConfig, ...Option) error { return ErrUnsupported }

// TeardownBridge fails with ErrUnsupported.
func TeardownBridge(string, ...Option) error { return ErrUnsupported }

// RunDHCP fails with ErrUnsupported.
func RunDHCP(context.Context, string, *slog.Logger, func(*Lease)) error { return ErrUnsupported }

// WatchLinks fails with ErrUnsupported.
func WatchLinks(context.Context, []string, func(string, bool), ...Option) error {
	return ErrUnsupported
}

// RunDHCPv6 fails with ErrUnsupported.
func RunDHCPv6(context.Context, string, *slog.Logger) error { return ErrUnsupported }
