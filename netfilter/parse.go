package netfilter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ParsePrefix reads an address ("203.0.113.5", "2001:db8::1") as a
// single-address prefix, or a network in CIDR notation ("203.0.113.0/24").
// Host bits in a CIDR are an error: "203.0.113.5/24" is ambiguous.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or network", s)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %v?)", s, p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or network", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: zones are not allowed", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseRate reads a rate as "10/minute" (also second, hour, day).
func ParseRate(s string) (rate uint64, per time.Duration, err error) {
	n, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, 0, fmt.Errorf("rate %q: want N/second, N/minute, N/hour or N/day", s)
	}
	rate, err = strconv.ParseUint(n, 10, 64)
	if err != nil || rate == 0 {
		return 0, 0, fmt.Errorf("rate %q: %q is not a positive number", s, n)
	}
	units := map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	per, ok = units[unit]
	if !ok {
		return 0, 0, fmt.Errorf("rate %q: unit %q is not one of second, minute, hour, day", s, unit)
	}
	return rate, per, nil
}
