//go:build !linux

package netmgmt

import (
	"errors"
	"net/netip"
)

// bridgeAddrs fails: the box's addresses are read only on Linux.
func bridgeAddrs(string, []netip.Prefix) ([]Address, []netip.Addr, error) {
	return nil, nil, errors.ErrUnsupported
}
