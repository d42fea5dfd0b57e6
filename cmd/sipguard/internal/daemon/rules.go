package daemon

import (
	"net/netip"

	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

// sipPorts converts the ruleset's SIP ports for the capture filter.
func sipPorts(r []netfilter.PortRange) []sip.PortRange {
	out := make([]sip.PortRange, len(r))
	for i, p := range r {
		out[i] = sip.PortRange{First: p.First, Last: p.Last}
	}
	return out
}

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
