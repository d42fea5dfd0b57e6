package daemon

import (
	"net/netip"
)

// allowlist returns the engine's allowlist check for a list of prefixes.
func allowlist(prefixes []netip.Prefix) func(netip.Addr) bool {
	return func(a netip.Addr) bool {
		for _, p := range prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
}
