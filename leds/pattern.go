package leds

import (
	"strings"
	"time"
)

// A Step is one segment of a pattern: a colour held for a time.
type Step struct {
	Colour Colour
	For    time.Duration
}

// A Pattern is a loop of steps, starting with the first when the mode
// begins. A pattern of one step is steady, whatever its length.
type Pattern []Step

// At returns the colour of the pattern d after it began and how long that
// colour stays (0: for ever).
func (p Pattern) At(d time.Duration) (Colour, time.Duration) {
	if len(p) == 0 {
		return Off, 0
	}
	if len(p) == 1 {
		return p[0].Colour, 0
	}
	var period time.Duration
	for _, s := range p {
		period += s.For
	}
	if period <= 0 {
		return p[0].Colour, 0
	}
	if d < 0 {
		d = 0
	}
	d %= period
	for _, s := range p {
		if d < s.For {
			return s.Colour, s.For - d
		}
		d -= s.For
	}
	return p[0].Colour, p[0].For // not reached: d < period
}

// String describes the pattern, such as "green steady" or
// "red 125ms/off 125ms".
func (p Pattern) String() string {
	switch len(p) {
	case 0:
		return "off"
	case 1:
		return p[0].Colour.String() + " steady"
	}
	parts := make([]string, len(p))
	for i, s := range p {
		parts[i] = s.Colour.String() + " " + s.For.String()
	}
	return strings.Join(parts, "/")
}

// Look is how a mode shows: Colour on two or more LEDs, Mono on one.
type Look struct {
	Colour Pattern
	Mono   Pattern
}

func steady(c Colour) Pattern { return Pattern{{c, 0}} }

func blink(c Colour, on, off time.Duration) Pattern { return Pattern{{c, on}, {Off, off}} }

// The looks of the modes; docs/leds.md shows them as a table. The mono
// patterns use Green for "lit".
var looks = [...]Look{
	Protecting: {steady(Green), steady(Green)},
	NoAddress: {Pattern{{Green, 1800 * time.Millisecond}, {Red, 200 * time.Millisecond}},
		Pattern{{Green, 1400 * time.Millisecond}, {Off, 200 * time.Millisecond}, {Green, 200 * time.Millisecond}, {Off, 200 * time.Millisecond}}},
	Attack:  {steady(Amber), blink(Green, 1800*time.Millisecond, 200*time.Millisecond)},
	Booting: {blink(Green, time.Second, time.Second), blink(Green, time.Second, time.Second)},
	Faulted: {steady(Red), Pattern{{Green, 150 * time.Millisecond}, {Off, 150 * time.Millisecond},
		{Green, 150 * time.Millisecond}, {Off, 1550 * time.Millisecond}}},
	Updating: {blink(Blue, 500*time.Millisecond, 500*time.Millisecond), blink(Green, 500*time.Millisecond, 500*time.Millisecond)},
	StatusBlink: {Pattern{{Red, 300 * time.Millisecond}, {Amber, 300 * time.Millisecond},
		{Green, 300 * time.Millisecond}, {Off, 300 * time.Millisecond}}, blink(Green, 100*time.Millisecond, 100*time.Millisecond)},
	ResetArmed: {blink(Red, 125*time.Millisecond, 125*time.Millisecond), blink(Green, 125*time.Millisecond, 125*time.Millisecond)},
	Resetting:  {steady(Red), steady(Green)},
}

// LookOf returns how mode m shows.
func LookOf(m Mode) Look {
	if int(m) < len(looks) {
		return looks[m]
	}
	return Look{}
}
