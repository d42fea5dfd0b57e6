// Package board is the hardware the box runs on: its profiles (which ports
// are wan and lan, which lines drive the LEDs and read the button, which
// LEDs the board has on it) and its devices: the LEDs, the front button
// and the hardware watchdog.
//
// A [Profile] is plain data. [Detect] picks one from the device tree (or by
// name, when the configuration overrides it); [Profile.Ports] finds the
// wan and lan interfaces in sysfs by driver and bus, never by enumeration
// order; [Open] opens the profile's LEDs and button and returns a [Board].
// Every function that reads the system takes its root (an fs.FS or a
// directory), so tests run on fake trees.
//
// GPIO goes through periph.io's Linux GPIO character-device driver only
// (/dev/gpiochipN), which serves the Pi 4's SoC and the Pi 5's RP1 alike;
// this package is the only one that imports periph.io/x/host. Everything
// else sees small interfaces: a [leds.Light] is Out(level), the button is
// a gpio.PinIn.
//
// [Sim] is a simulated board with the same interface: its LEDs are
// readable values and its button takes injected presses, for the demo and
// the tests.
//
// # Default wiring
//
// The Pi 4 and Pi 5 share the 40-pin header, and so the wiring:
//
//	RGB LED, common cathode    red   GPIO17, header pin 11, through 330 Ω
//	                           green GPIO27, header pin 13, through 330 Ω
//	                           blue  GPIO22, header pin 15, through 330 Ω
//	                           cathode to ground, header pin 14
//	button (normally open)     GPIO26, header pin 37, to ground, header pin 39;
//	                           the internal pull-up holds the line high, a
//	                           press pulls it low
//
// At 3.3 V, 330 Ω gives a red LED about 4 mA and a green or blue one 1 to
// 2 mA, well inside a GPIO's 8 mA default drive; use 150 Ω on green and
// blue for a brighter front. A bi-colour LED uses the red and green lines.
// Without external LEDs the board's own green ACT and red PWR LEDs show
// the state (see docs/leds.md).
package board
