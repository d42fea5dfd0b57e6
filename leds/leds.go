package leds

import (
	"errors"
	"fmt"

	"periph.io/x/conn/v3/gpio"
)

// A Light is one physical LED, on (gpio.High) or off (gpio.Low). Every
// periph.io gpio.PinOut is a Light.
type Light interface {
	Out(l gpio.Level) error
}

// Colour is a logical colour the box shows, before it is mapped to LEDs.
type Colour uint8

// The logical colours. Off is dark.
const (
	Off Colour = iota
	Green
	Amber
	Red
	Blue
)

var colourNames = [...]string{Off: "off", Green: "green", Amber: "amber", Red: "red", Blue: "blue"}

// String returns the colour's name, such as "amber".
func (c Colour) String() string {
	if int(c) < len(colourNames) {
		return colourNames[c]
	}
	return fmt.Sprintf("colour(%d)", c)
}

// MarshalText encodes the colour as its name.
func (c Colour) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Lights is the set of LEDs the engine drives, by colour; nil fields are
// absent. The supported sets are:
//
//   - none: the engine keeps state (for the API) and drives nothing;
//   - one LED, in any field: the mono patterns, colour is not shown;
//   - Red and Green (a bi-colour LED, or a Pi's PWR and ACT LEDs): amber
//     is both lit, blue shows as amber;
//   - Red, Green and Blue (an RGB LED): amber is red and green;
//   - Red, Green and Amber (three separate LEDs): amber is its own LED.
type Lights struct {
	Red, Green, Blue, Amber Light
}

// ErrLayout reports a set of LEDs the engine cannot show colours on.
var ErrLayout = errors.New("leds: want no LED, one LED, or at least red and green")

// Count returns how many LEDs the set has.
func (l Lights) Count() int {
	n := 0
	for _, x := range l.all() {
		if x != nil {
			n++
		}
	}
	return n
}

// Mono reports whether the set is a single LED, which shows patterns
// but not colours.
func (l Lights) Mono() bool { return l.Count() == 1 }

// Check reports whether the engine can drive the set (ErrLayout if not).
func (l Lights) Check() error {
	if n := l.Count(); n >= 2 && (l.Red == nil || l.Green == nil) {
		return fmt.Errorf("%w (have %d LEDs, red %t, green %t)", ErrLayout, n, l.Red != nil, l.Green != nil)
	}
	return nil
}

func (l Lights) all() [4]Light { return [4]Light{l.Red, l.Green, l.Blue, l.Amber} }

// lightNames name the fields of Lights in the order of all.
var lightNames = [4]string{"red", "green", "blue", "amber"}

// Levels returns the level of each LED (in the order red, green, blue,
// amber) that shows colour c on this set.
func (l Lights) Levels(c Colour) [4]gpio.Level {
	var out [4]gpio.Level
	if l.Mono() {
		for i, x := range l.all() {
			out[i] = x != nil && c != Off
		}
		return out
	}
	if c == Blue && l.Blue == nil {
		c = Amber
	}
	mix := c == Amber && l.Amber == nil
	out[0] = gpio.Level(c == Red || mix)
	out[1] = gpio.Level(c == Green || mix)
	out[2] = c == Blue
	out[3] = gpio.Level(c == Amber && !mix)
	return out
}

// Show drives every LED of the set to show colour c. Errors of single
// LEDs are joined; the others are still driven.
func (l Lights) Show(c Colour) error {
	lv := l.Levels(c)
	var errs []error
	for i, x := range l.all() {
		if x == nil {
			continue
		}
		if err := x.Out(lv[i]); err != nil {
			errs = append(errs, fmt.Errorf("%s led: %w", lightNames[i], err))
		}
	}
	return errors.Join(errs...)
}

// UnmarshalText decodes a colour from its name.
func (c *Colour) UnmarshalText(b []byte) error {
	i, err := lookupName(colourNames[:], string(b), "colour")
	*c = Colour(i)
	return err
}

// lookupName returns the index of name in names.
func lookupName(names []string, name, what string) (int, error) {
	for i, n := range names {
		if n == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("leds: unknown %s %q", what, name)
}
