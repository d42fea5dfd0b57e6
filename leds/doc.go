// Package leds turns the box's state into LED patterns on whatever LEDs the
// board has: a single on-board LED, the Pi's red and green pair, a
// bi-colour LED or an RGB LED on the front.
//
// # Model
//
// The daemon reports conditions, not colours: ready or booting, a ban, a
// fault (a port's link down, the service restarting, a store error, a
// tamper warning), an update under way, the factory reset countdown, a
// status blink asked for with the button. Those conditions are a [State].
// At any instant exactly one [Mode] wins, by a fixed priority:
//
//	resetting > reset armed > status blink > updating > fault > booting > attack > no address > protecting
//
// No address is a fault in the list the daemon reports (FaultNoAddress)
// but not in the LEDs' fault colour: the box protects all the same, so it
// shows below an attack, as the protecting green with a red blip.
//
// Each mode has a [Look]: a colour [Pattern] for boards with two or more
// LEDs, and a mono pattern that tells the modes apart on a single LED.
// [Show] is a pure function of the state, the time the mode began and the
// time now: it returns the colour lit now and when it next changes. The
// [Engine] is the only goroutine: it sleeps until that time or until the
// state changes, then drives each physical LED through [Lights]. There is
// no goroutine or ticker per LED or per blink, and tests check patterns
// by calling Show with chosen times, or run the engine under
// testing/synctest.
//
// # Colours on the LEDs
//
// [Lights] maps the logical colours to physical LEDs: red and green are
// their own LEDs, amber is red and green together (or a separate amber
// LED), blue is its own LED or falls back to amber. With one LED the mono
// patterns apply. docs/leds.md has the full table.
//
// The package imports no hardware driver: a [Light] is anything with
// Out(gpio.Level), such as a periph.io gpio.PinOut or the board's sysfs
// LED.
package leds
