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
	// GuessLimit and GuessPeriod: a source that never authenticated (no
	// successful registration, and no registration or call the PBX took,
	// within TrustWindow) has a bucket of GuessLimit failures that leaks one
	// every GuessPeriod/GuessLimit; the failure that does not fit bans it
	// for BlockTime (slow guessing). With 4 an hour, any 5 failures within
	// 15 minutes ban.
	GuessLimit  int
	GuessPeriod time.Duration
	// Network4, Network6 and NetworkLimit: the failures of sources that
	// never authenticated are also counted per network (an IPv4 /Network4,
	// an IPv6 /Network6), more than NetworkLimit per GuessPeriod from at
	// least three different sources of the network ban the whole network.
	// NetworkLimit 0 turns it off; a network no longer than the source
	// prefix is not counted.
	Network4, Network6 int
	NetworkLimit       int
	// TrustWindow, TrustedFailures and TrustedOtherExtensions: a source
	// that registered an extension successfully is trusted for
	// TrustWindow. Its failures on that extension, and on at most
	// TrustedOtherExtensions extensions that never succeeded from it, raise
	// an alert instead of counting, up to TrustedFailures per extension and
	// TrustWindow (a bucket per source and extension, which a new success
	// does not empty). Past either bound they count as anyone's failures.
	TrustWindow            time.Duration
	TrustedFailures        int
	TrustedOtherExtensions int
	// TrunkFailures: a source whose INVITE without credentials the PBX
	// answered 2xx (an IP-authenticated trunk or carrier) has up to this
	// many INVITE failures per TrustWindow tolerated (one alert); past it,
	// and for any other method, they count as anyone's.
	TrunkFailures int
	// HijackSources and HijackWindow: one extension registering successfully
	// from this many different sources (2-4) within the window raises
	// ReasonHijack. HijackNewCountry: so does a successful registration
	// from another country than the extension's last one (within a day),
	// when Country knows both. HijackAction says what follows: an alert,
	// or a ban of the source that completed the pattern.
	HijackSources    int
	HijackWindow     time.Duration
	HijackNewCountry bool
	HijackAction     HijackAction
	// Country returns the ISO code of an address's country, "" when
	// unknown. Nil: countries are unknown (no country check).
	Country func(netip.Addr) string
	// Prefix4 and Prefix6: sources are counted and banned by prefix, so an
	// attacker rotating addresses inside its IPv6 /64 is one source.
	// Prefix6 is MinPrefix6–128; the ruleset's bans cover the same prefix.
	Prefix4, Prefix6 int
	// Allowed reports whether an address is on the allowlist: it is never
	// banned. Nil allows nobody.
	Allowed func(netip.Addr) bool
}

// HijackAction is what an extension hijack leads to.
type HijackAction string

const (
	// HijackAlert raises an alert; nothing is blocked.
	HijackAlert HijackAction = "alert"
	// HijackBan also bans the source that completed the pattern.
	HijackBan HijackAction = "ban"
)

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
		RegisterLimit:          5,
		InviteLimit:            5,
		InviteBlockTime:        10 * time.Minute,
		HourlyLimit:            30,
		FloodRate:              50,
		BlockTime:              10 * time.Minute,
		BlockThreshold:         5,
		ScannerAgents:          DefaultScannerAgents,
		GuessLimit:             4,
		GuessPeriod:            time.Hour,
		Network4:               24,
		Network6:               64,
		NetworkLimit:           10,
		TrustWindow:            time.Hour,
		TrustedFailures:        10,
		TrustedOtherExtensions: 2,
		TrunkFailures:          60,
		HijackSources:          3,
		HijackWindow:           10 * time.Minute,
		HijackNewCountry:       true,
		HijackAction:           HijackAlert,
		Prefix4:                32,
		Prefix6:                64,
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
	check(r.GuessLimit >= 1 && r.GuessLimit <= 1000, "guess_limit: %d is outside 1–1000", r.GuessLimit)
	check(r.GuessPeriod >= time.Minute && r.GuessPeriod <= 24*time.Hour, "guess_period: %v is outside 1m–24h", r.GuessPeriod)
	check(r.Network4 >= 8 && r.Network4 <= 32, "network4: %d is outside 8–32", r.Network4)
	check(r.Network6 >= 32 && r.Network6 <= 128, "network6: %d is outside 32–128", r.Network6)
	check(r.NetworkLimit >= 0 && r.NetworkLimit <= 100000, "network_limit: %d is outside 0–100000 (0 turns it off)", r.NetworkLimit)
	check(r.TrustWindow >= 0 && r.TrustWindow <= 30*24*time.Hour, "trust_window: %v is outside 0s–720h", r.TrustWindow)
	check(r.TrustedFailures >= 0 && r.TrustedFailures <= 1000, "trusted_failures: %d is outside 0–1000", r.TrustedFailures)
	check(r.TrustedOtherExtensions >= 0 && r.TrustedOtherExtensions <= 100, "trusted_other_extensions: %d is outside 0–100", r.TrustedOtherExtensions)
	check(r.TrunkFailures >= 0 && r.TrunkFailures <= 100000, "trunk_failures: %d is outside 0–100000", r.TrunkFailures)
	check(r.HijackSources >= 2 && r.HijackSources <= hijackSlots, "hijack_sources: %d is outside 2–%d", r.HijackSources, hijackSlots)
	check(r.HijackWindow >= time.Minute && r.HijackWindow <= 24*time.Hour, "hijack_window: %v is outside 1m–24h", r.HijackWindow)
	check(r.HijackAction == HijackAlert || r.HijackAction == HijackBan, "hijack_action: %q is not alert or ban", r.HijackAction)
	check(r.Prefix4 >= 8 && r.Prefix4 <= 32, "prefix4: %d is outside 8–32", r.Prefix4)
	check(r.Prefix6 >= MinPrefix6 && r.Prefix6 <= 128, "prefix6: %d is outside %d–128", r.Prefix6, MinPrefix6)
	for i, a := range r.ScannerAgents {
		check(strings.TrimSpace(a) != "", "scanner_agents[%d]: empty", i)
	}
	return errors.Join(errs...)
}
