package netfilter

import (
	"errors"
	"fmt"
	"strings"
)

// Bounds of Ruleset.BlockDialled. The kernel compares at most 64 bytes of
// a datagram in one rule: "INVITE sips:" and the longest prefix fit.
const (
	MaxBlockDialled  = 64
	MaxDialledPrefix = 24
)

// ValidateBlockDialled checks a list of dialled-number prefixes to block:
// at most MaxBlockDialled of them, each 1 to MaxDialledPrefix of the
// characters 0-9 + * #. Its errors start with the item's index, "[2]: …",
// or with ": …" for the list as a whole, for the caller to prefix with its
// key.
func ValidateBlockDialled(prefixes []string) error {
	if len(prefixes) > MaxBlockDialled {
		return fmt.Errorf(": %d prefixes, at most %d", len(prefixes), MaxBlockDialled)
	}
	var errs []error
	for i, p := range prefixes {
		if len(p) < 1 || len(p) > MaxDialledPrefix || strings.Trim(p, "0123456789+*#") != "" {
			errs = append(errs, fmt.Errorf("[%d]: %q is not a number prefix: 1 to %d of the characters 0-9 + * #, as the PBX dials it", i, p, MaxDialledPrefix))
		}
	}
	return errors.Join(errs...)
}

// validateToll checks the settings of the toll-fraud block.
func (r *Ruleset) validateToll() error {
	if len(r.BlockDialled) == 0 {
		return nil
	}
	var errs []error
	if err := ValidIfName(r.LAN); err != nil {
		errs = append(errs, fmt.Errorf("lan (needed by block_dialled): %w", err))
	} else if r.LAN == r.WAN {
		errs = append(errs, fmt.Errorf("lan: %q is also the wan port", r.LAN))
	}
	if err := ValidateBlockDialled(r.BlockDialled); err != nil {
		errs = append(errs, fmt.Errorf("block_dialled%w", err))
	}
	return errors.Join(errs...)
}
