// Package portrange is the one way the box writes TCP and UDP port ranges:
// the ruleset's port sets (package netfilter) and the capture's filter
// (package sip) take the same ranges, read by the same parser.
//
// It lives under sip, since these are the ports SIP is spoken on, but as a
// package of its own that imports nothing of the box's, because the two
// users must stay apart: the SIP inspection decides and never reaches
// into the firewall (sip must not import netfilter), and the firewall has
// no business pulling in the SIP parser and capture to describe a port.
package portrange

import (
	"fmt"
	"strconv"
	"strings"
)

// Range is an inclusive range of ports; a single port has First == Last.
type Range struct{ First, Last uint16 }

// String writes r as Parse reads it: "5060" or "5080:5082".
func (r Range) String() string {
	if r.First == r.Last {
		return fmt.Sprint(r.First)
	}
	return fmt.Sprintf("%d:%d", r.First, r.Last)
}

// Parse reads a comma-separated list of ports and ranges, as "5060",
// "5060:5062" or "5060,5080:5082".
func Parse(s string) ([]Range, error) {
	var out []Range
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		first, last, isRange := strings.Cut(f, ":")
		a, err := parsePort(first)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parsePort(last); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("port range %q runs backwards", f)
			}
		}
		out = append(out, Range{a, b})
	}
	return out, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return uint16(n), nil
}
