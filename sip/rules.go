package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Rules are the detection settings. An Engine holds one immutable Rules
// value and swaps it whole when the settings change.
type Rules struct {
	// RegisterLimit: more than this many unauthorized REGISTER attempts from
	// one source within a minute ban it for BlockTime.
	RegisterLimit int
	// InviteLimit and InviteBlockTime: the same for INVITE.
	InviteLimit     int
	InviteBlockTime time.Duration
	// HourlyLimit: more than this many unauthorized attempts of any method
	// within an hour ban the source too (slow brute force).
	HourlyLimit int
	// FloodRate: more than this many requests a second from one source (in
	// a burst of twice as many) ban it.
	FloodRate int
	// BlockTime is how long a ban lasts after the source's last packet
	// (sipPROT's BLOCKTIME): a source that keeps sending stays banned.
	BlockTime time.Duration
	// BlockThreshold: after this many dynamic bans (1-20) a source is
	// banned permanently. The engine does not apply it: the enforcement
	// side keeps each source's ban history (across restarts) and owns the
	// decision.
	BlockThreshold int
	// ScannerAgents are User-Agent substrings (any case) banned at the
	// first packet.
	ScannerAgents []string
	// TrustWindow and TrustedFailures: after a source registers
	// successfully, up to TrustedFailures unauthorized attempts within
	// TrustWindow raise an alert instead of counting toward a ban.
	TrustWindow     time.Duration
	TrustedFailures int
	// HijackSources and HijackWindow: one extension registering successfully
	// from this many different sources within the window raises an alert.
	HijackSources int
	HijackWindow  time.Duration
	// Prefix4 and Prefix6: sources are counted and banned by prefix, so an
	// attacker rotating addresses inside its IPv6 /64 is one source.
	// Prefix6 is MinPrefix6–128; the ruleset's bans cover the same prefix.
	Prefix4, Prefix6 int
	// Allowed reports whether an address is on the allowlist: it is never
	// banned. Nil allows nobody.
	Allowed func(netip.Addr) bool
}

// MinPrefix6 is the shortest IPv6 prefix a source may be counted and banned
// by: a /48 is one site, while a shorter prefix would ban every customer of
// an ISP at once.
const MinPrefix6 = 48

// DefaultScannerAgents are the User-Agents of common SIP scanners and
// brute-force tools. Current campaigns also spoof real phone models:
// behaviour, not this list, does the real work.
var DefaultScannerAgents = []string{
	"friendly-scanner", "sipvicious", "sipcli", "vaxsipuseragent", "sundayddr",
	"pplsip", "iwar", "sip-scan", "sipscan", "smap", "sivus", "sipsak",
}

// DefaultRules returns the rules the box protects with out of the box.
func DefaultRules() Rules {
	return Rules{
		RegisterLimit:   5,
		InviteLimit:     5,
		InviteBlockTime: 10 * time.Minute,
		HourlyLimit:     30,
		FloodRate:       50,
		BlockTime:       10 * time.Minute,
		BlockThreshold:  5,
		ScannerAgents:   DefaultScannerAgents,
		TrustWindow:     time.Hour,
		TrustedFailures: 10,
		HijackSources:   3,
		HijackWindow:    10 * time.Minute,
		Prefix4:         32,
		Prefix6:         64,
	}
}

// Validate reports every problem, naming the setting and its range.
func (r Rules) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(r.RegisterLimit >= 1 && r.RegisterLimit <= 1000, "register_limit: %d is outside 1–1000", r.RegisterLimit)
	check(r.InviteLimit >= 1 && r.InviteLimit <= 1000, "invite_limit: %d is outside 1–1000", r.InviteLimit)
	check(r.HourlyLimit >= 1 && r.HourlyLimit <= 100000, "hourly_limit: %d is outside 1–100000", r.HourlyLimit)
	check(r.FloodRate >= 1 && r.FloodRate <= 100000, "flood_rate: %d is outside 1–100000", r.FloodRate)
	check(r.BlockTime >= time.Second && r.BlockTime <= 30*24*time.Hour, "block_time: %v is outside 1s–720h", r.BlockTime)
	check(r.InviteBlockTime >= time.Second && r.InviteBlockTime <= 30*24*time.Hour, "invite_block_time: %v is outside 1s–720h", r.InviteBlockTime)
	check(r.BlockThreshold >= 1 && r.BlockThreshold <= 20, "block_threshold: %d is outside 1–20", r.BlockThreshold)
	check(r.TrustWindow >= 0 && r.TrustedFailures >= 0, "trust_window and trusted_failures must not be negative")
	check(r.HijackSources >= 2, "hijack_sources: %d must be at least 2", r.HijackSources)
	check(r.Prefix4 >= 8 && r.Prefix4 <= 32, "prefix4: %d is outside 8–32", r.Prefix4)
	check(r.Prefix6 >= MinPrefix6 && r.Prefix6 <= 128, "prefix6: %d is outside %d–128", r.Prefix6, MinPrefix6)
	for i, a := range r.ScannerAgents {
		check(strings.TrimSpace(a) != "", "scanner_agents[%d]: empty", i)
	}
	return errors.Join(errs...)
}
