package netfilter

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/sipguard/sipguard/sip/portrange"
)

// CountryMode says how the country set is used.
type CountryMode int

const (
	// CountriesOff ignores the country set.
	CountriesOff CountryMode = iota
	// CountriesBlock drops traffic from the listed countries.
	CountriesBlock
	// CountriesAllowOnly drops traffic from every country not listed.
	CountriesAllowOnly
)

func (m CountryMode) String() string {
	switch m {
	case CountriesOff:
		return "off"
	case CountriesBlock:
		return "block"
	case CountriesAllowOnly:
		return "allow-only"
	}
	return fmt.Sprintf("CountryMode(%d)", int(m))
}

// RateLimit is a token bucket: Rate packets per Per, with Burst packets of
// credit.
type RateLimit struct {
	Rate  uint64
	Per   time.Duration // time.Second, time.Minute, time.Hour or 24h
	Burst uint32
}

// Ruleset is everything the kernel ruleset is computed from, apart from the
// dynamic bans and the large sets (countries, feeds), which change far more
// often and have their own calls.
type Ruleset struct {
	// WAN is the port facing the internet; only traffic entering on it is
	// filtered.
	WAN string

	// Allow, Deny and Permanent are addresses or networks, IPv4 and IPv6
	// mixed. Allow wins over every drop.
	Allow, Deny, Permanent []netip.Prefix

	// Admin may reach the box itself from the wan port.
	Admin []netip.Prefix

	// Countries selects how the country set filters.
	Countries CountryMode

	// TFTP limits TFTP requests (UDP 69) per source; nil disables the limit.
	TFTP *RateLimit

	// DNSGuard drops DNS responses over 2048 bytes (CVE-2015-7547).
	DNSGuard bool

	// RestrictedTCP are the office ports that no new TCP connection from the
	// wan may reach (SSH, phone web interfaces, provisioning).
	RestrictedTCP []portrange.Range

	// SIPPorts and SIPUDP/SIPTCP describe the SIP service; with TrustedSIP
	// only allowlisted sources reach it.
	SIPPorts       []portrange.Range
	SIPUDP, SIPTCP bool
	TrustedSIP     bool

	// BanPrefix4 and BanPrefix6 are the lengths of the IPv4 and IPv6
	// prefixes one ban covers. The box sets them from the SIP rules'
	// Prefix4 and Prefix6, whose ranges sip.Rules.Validate checks, so that
	// a ban covers what detection counts as one source. A BanPrefix4 of 0
	// is 32: a ban covers one IPv4 address.
	BanPrefix4, BanPrefix6 int

	// FirstPacket marks SIP datagrams over UDP from the wan port (MarkSIP)
	// once every list, ban and hold let them through, for the first-packet
	// verdict (see Verdict).
	FirstPacket bool

	// LAN is the port facing the office; BlockDialled are dialled-number
	// prefixes ("+882", "00882") whose calls from the office are dropped:
	// an INVITE entering on LAN over UDP to a SIP port whose Request-URI
	// starts with sip:, sips: or tel: and the prefix, as the PBX writes it.
	LAN          string
	BlockDialled []string
}

// banBits4 is the IPv4 ban prefix length in force.
func (r *Ruleset) banBits4() int {
	if r.BanPrefix4 == 0 {
		return 32
	}
	return r.BanPrefix4
}

// Defaults returns the ruleset the box protects with when nothing is
// configured.
func Defaults() Ruleset {
	return Ruleset{
		WAN:           "wan",
		TFTP:          &RateLimit{Rate: 10, Per: time.Minute, Burst: 100},
		DNSGuard:      true,
		RestrictedTCP: []portrange.Range{{First: 22, Last: 22}, {First: 80, Last: 80}, {First: 443, Last: 443}, {First: 8080, Last: 8080}, {First: 8443, Last: 8443}},
		SIPPorts:      []portrange.Range{{First: 5060, Last: 5060}},
		SIPUDP:        true,
		SIPTCP:        true,
		BanPrefix4:    32,
		BanPrefix6:    64,
		FirstPacket:   true,
	}
}

// Validate reports every problem with r, each naming its setting.
func (r Ruleset) Validate() error {
	var errs []error
	if err := ValidIfName(r.WAN); err != nil {
		errs = append(errs, fmt.Errorf("wan: %w", err))
	}
	for _, l := range []struct {
		name string
		list []netip.Prefix
	}{{"allow", r.Allow}, {"deny", r.Deny}, {"permanent", r.Permanent}, {"admin", r.Admin}} {
		for i, p := range l.list {
			if !p.IsValid() {
				errs = append(errs, fmt.Errorf("%s[%d]: invalid prefix", l.name, i))
			}
		}
	}
	if r.Countries < CountriesOff || r.Countries > CountriesAllowOnly {
		errs = append(errs, fmt.Errorf("countries: unknown mode %d", r.Countries))
	}
	if l := r.TFTP; l != nil {
		if l.Rate == 0 {
			errs = append(errs, errors.New("tftp.rate: must be at least 1"))
		}
		if !slices.Contains([]time.Duration{time.Second, time.Minute, time.Hour, 24 * time.Hour}, l.Per) {
			errs = append(errs, fmt.Errorf("tftp.per: %v is not one of 1s, 1m, 1h, 24h", l.Per))
		}
	}
	for _, l := range []struct {
		name string
		list []portrange.Range
	}{{"restricted_tcp", r.RestrictedTCP}, {"sip_ports", r.SIPPorts}} {
		for i, pr := range l.list {
			if pr.First == 0 || pr.First > pr.Last {
				errs = append(errs, fmt.Errorf("%s[%d]: %v is not a port range (1-65535, first <= last)", l.name, i, pr))
			}
		}
	}
	if r.BanPrefix4 != 0 && (r.BanPrefix4 < 8 || r.BanPrefix4 > 32) {
		errs = append(errs, fmt.Errorf("ban_prefix4: %d is outside 8–32", r.BanPrefix4))
	}
	if r.TrustedSIP && (len(r.SIPPorts) == 0 || !(r.SIPUDP || r.SIPTCP)) {
		errs = append(errs, errors.New("trusted_sip: needs sip_ports and SIP over UDP or TCP"))
	}
	if err := r.validateToll(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ValidIfName checks a network interface name as the kernel would.
func ValidIfName(name string) error {
	switch {
	case name == "":
		return errors.New("interface name is empty")
	case len(name) > 15:
		return fmt.Errorf("interface name %q is longer than 15 bytes", name)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is reserved", name)
	}
	for _, c := range name {
		if c == '/' || c == ':' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("interface name %q contains %q", name, c)
		}
	}
	return nil
}
