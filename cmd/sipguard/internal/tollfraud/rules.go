package tollfraud

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sipguard/sipguard/netfilter"
)

// Rules are the watch's settings. A Watch holds one Rules value and swaps
// it whole when the settings change.
type Rules struct {
	// Enabled turns the watch on; off, nothing is counted.
	Enabled bool
	// InternationalPrefix is how the PBX dials abroad ("00" in most of the
	// world, "011" in North America): a number starting with it is read as
	// "+" and the country code. Empty: numbers are taken as they are.
	InternationalPrefix string
	// HighRisk are destinations often abused for toll fraud, as E.164
	// prefixes ("+882", "+53"): a call to one counts as high-risk.
	HighRisk []string
	// CallsPerHour is an extension's budget of new outbound calls an hour
	// (and a dialled number's, over all extensions); more raise an alert.
	CallsPerHour int
	// HighRiskPerHour: more high-risk calls than this from one extension in
	// an hour raise an alert; 0 alerts on the first.
	HighRiskPerHour int
	// OfficeHours are the office's working hours in Location; calls
	// outside them are counted apart, and more than OffHoursLimit() of
	// them in an hour raise an alert.
	OfficeHours Hours
	// Location is the time zone of OfficeHours; nil is UTC.
	Location *time.Location
	// Block lists dialled-number prefixes the kernel drops calls to; the
	// watch counts calls to them as high-risk too.
	Block []string
}

// Bounds of the settings.
const (
	MaxCallsPerHour = 100_000
	// MaxPrefixes bounds the high-risk list, MaxPrefixLen each prefix (the
	// block list's bounds are netfilter.ValidateBlockDialled's).
	MaxPrefixes  = 64
	MaxPrefixLen = 24
)

// OffHoursLimit is how many calls outside office hours an extension may
// make in an hour before an alert: a third of its budget. An office
// calls little at night; a hijacked extension calls most then.
func (r *Rules) OffHoursLimit() int { return r.CallsPerHour / 3 }

// Validate reports every problem with r, each naming its key.
func (r Rules) Validate() error {
	var errs []error
	if r.CallsPerHour < 1 || r.CallsPerHour > MaxCallsPerHour {
		errs = append(errs, fmt.Errorf("calls_per_hour: %d is outside 1–%d", r.CallsPerHour, MaxCallsPerHour))
	}
	if r.HighRiskPerHour < 0 || r.HighRiskPerHour > MaxCallsPerHour {
		errs = append(errs, fmt.Errorf("high_risk_per_hour: %d is outside 0–%d", r.HighRiskPerHour, MaxCallsPerHour))
	}
	if p := r.InternationalPrefix; p != "" && (len(p) > 4 || strings.Trim(p, "0123456789") != "") {
		errs = append(errs, fmt.Errorf("international_prefix: %q is not up to 4 digits, like 00 or 011", p))
	}
	if len(r.HighRisk) > MaxPrefixes {
		errs = append(errs, fmt.Errorf("high_risk: %d prefixes, at most %d", len(r.HighRisk), MaxPrefixes))
	}
	for i, p := range r.HighRisk {
		if len(p) < 2 || len(p) > MaxPrefixLen || p[0] != '+' || strings.Trim(p[1:], "0123456789") != "" {
			errs = append(errs, fmt.Errorf("high_risk[%d]: %q is not an E.164 prefix: + and 1 to %d digits, like +882", i, p, MaxPrefixLen-1))
		}
	}
	if err := netfilter.ValidateBlockDialled(r.Block); err != nil {
		errs = append(errs, fmt.Errorf("block%w", err))
	}
	return errors.Join(errs...)
}

// maxNumber is the longest dialled number kept; longer ones are cut.
const maxNumber = 32

// normalize writes the dialled number of a Request-URI's user part into
// dst and returns its length: parameters (";phone-context=…") and visual
// separators ("-", ".", "(", ")", spaces, "%20") removed, the
// international prefix read as "+". It does not allocate.
func normalize(dst *[maxNumber]byte, user []byte, intl string) int {
	n := 0
	for i := 0; i < len(user) && n < maxNumber; i++ {
		c := user[i]
		switch c {
		case ';':
			i = len(user) // parameters follow
			continue
		case '-', '.', '(', ')', ' ', '\t':
			continue
		case '%':
			if i+2 < len(user) && user[i+1] == '2' && user[i+2] == '0' { // an escaped space
				i += 2
				continue
			}
		}
		dst[n] = c
		n++
	}
	if intl != "" && n > len(intl) && string(dst[:len(intl)]) == intl {
		copy(dst[1:], dst[len(intl):n])
		dst[0] = '+'
		n -= len(intl) - 1
	}
	return n
}
