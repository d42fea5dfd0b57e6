package leds

import (
	"fmt"
	"strings"
	"time"
)

// Timing of the modes that depend on time.
const (
	// AttackHold is how long the attack colour stays after the last ban.
	AttackHold = time.Hour
	// BlipLength is the dark flicker that marks each ban while the attack
	// colour is shown. A new blip starts at most every 2*BlipLength, so a
	// fast attack flickers rather than going dark.
	BlipLength = 120 * time.Millisecond
	// StatusBlinkLength is how long a short press on the button shows the
	// lamp test.
	StatusBlinkLength = 2400 * time.Millisecond
)

// Fault is a set of faults; any of them shows the fault colour.
type Fault uint16

// The faults.
const (
	FaultWANDown   Fault = 1 << iota // the wan port has no link
	FaultLANDown                     // the lan port has no link
	FaultService                     // the service is restarting
	FaultStore                       // the store cannot be read or written
	FaultTamper                      // the root or boot files differ from the signed manifest
	FaultKernel                      // the kernel refused a change of the ruleset or a batch of bans
	FaultStateLost                   // the state file could not be used at start: set aside, or nothing is kept
	FaultCapture                     // the capture lost frames for 30 s on end: inspection cannot keep up
	FaultNoAddress                   // the box has no management address: it protects, but cannot be reached
	faultEnd
)

// notices are the faults that leave the box protecting as it should: they
// show below an attack, as their own mode, never as the fault colour.
const notices = FaultNoAddress

var faultNames = []string{"wan-down", "lan-down", "service", "store", "tamper", "kernel", "state-lost", "capture", "no-address"}

// String lists the faults, such as "wan-down,tamper", or "none".
func (f Fault) String() string {
	if f == 0 {
		return "none"
	}
	var names []string
	for i, n := range faultNames {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if f >= faultEnd {
		names = append(names, fmt.Sprintf("0x%x", uint16(f&^(faultEnd-1))))
	}
	return strings.Join(names, ",")
}

// MarshalText encodes the faults as String does.
func (f Fault) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// State is what the daemon has reported: the conditions the LEDs show.
// The zero State is a box that is booting.
type State struct {
	Ready         bool      // every service is up: protecting
	Faults        Fault     // faults now present
	Updating      bool      // a firmware update is being written
	LastBan       time.Time // the last ban (zero: none yet)
	BlipAt        time.Time // start of the last ban's blip
	ResetProgress float64   // factory reset countdown: 0 none, (0,1) armed, 1 resetting
	StatusUntil   time.Time // end of the status blink asked for by a short press
}

// Mode is the one thing the LEDs show at a time.
type Mode uint8

// The modes, lowest priority first.
const (
	Protecting  Mode = iota // ready, no recent ban
	NoAddress               // ready, no recent ban, and no management address
	Attack                  // a ban within AttackHold
	Booting                 // not every service is up yet
	Faulted                 // any fault
	Updating                // a firmware update is being written
	StatusBlink             // lamp test after a short press
	ResetArmed              // the button is held: factory reset countdown
	Resetting               // the countdown completed: wiping and rebooting
)

var modeNames = [...]string{
	Protecting: "protecting", NoAddress: "no-address", Attack: "attack", Booting: "booting", Faulted: "fault",
	Updating: "updating", StatusBlink: "status", ResetArmed: "reset-armed", Resetting: "resetting",
}

// String returns the mode's name, such as "reset-armed".
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", m)
}

// MarshalText encodes the mode as its name.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Mode returns the mode that wins at now (see the package doc for the
// priorities).
func (s State) Mode(now time.Time) Mode {
	switch {
	case s.ResetProgress >= 1:
		return Resetting
	case s.ResetProgress > 0:
		return ResetArmed
	case now.Before(s.StatusUntil):
		return StatusBlink
	case s.Updating:
		return Updating
	case s.Faults&^notices != 0:
		return Faulted
	case !s.Ready:
		return Booting
	case s.attacked(now):
		return Attack
	case s.Faults&FaultNoAddress != 0:
		return NoAddress
	}
	return Protecting
}

func (s State) attacked(now time.Time) bool {
	return !s.LastBan.IsZero() && now.Before(s.LastBan.Add(AttackHold))
}

// expiry returns when mode m, shown at now, ends by itself (zero: never).
func (s State) expiry(m Mode, now time.Time) time.Time {
	switch m {
	case StatusBlink:
		return s.StatusUntil
	case Attack:
		return s.LastBan.Add(AttackHold)
	case Protecting, NoAddress, Booting:
		// A status blink or ban set later wakes the engine itself.
	}
	return time.Time{}
}

// Show returns the colour lit at now for state s whose mode began at
// since, on a set of LEDs that is mono or not, and when that colour may
// next change (zero: not until the state changes). It is a pure function:
// the engine calls it, and so do the tests.
func Show(s State, since, now time.Time, mono bool) (Colour, time.Time) {
	m := s.Mode(now)
	look := LookOf(m)
	p := look.Colour
	if mono {
		p = look.Mono
	}
	c, left := p.At(now.Sub(since))
	next := time.Time{}
	if left > 0 {
		next = now.Add(left)
	}
	if m == Attack {
		if end := s.BlipAt.Add(BlipLength); now.Before(end) && !now.Before(s.BlipAt) {
			c, next = Off, end
		}
	}
	if exp := s.expiry(m, now); !exp.IsZero() && (next.IsZero() || exp.Before(next)) {
		next = exp
	}
	return c, next
}

// UnmarshalText decodes a mode from its name.
func (m *Mode) UnmarshalText(b []byte) error {
	i, err := lookupName(modeNames[:], string(b), "mode")
	*m = Mode(i)
	return err
}

// UnmarshalText decodes a set of faults from its names, as String writes
// them.
func (f *Fault) UnmarshalText(b []byte) error {
	*f = 0
	if s := string(b); s != "none" {
		for n := range strings.SplitSeq(s, ",") {
			i, err := lookupName(faultNames, n, "fault")
			if err != nil {
				return err
			}
			*f |= 1 << i
		}
	}
	return nil
}
