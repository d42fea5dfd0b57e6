package board

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"

	"github.com/sipguard/sipguard/leds"
	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"

	// The Linux GPIO character-device driver, and no other: it serves the
	// Pi 4's SoC and the Pi 5's RP1 alike, where host.Init's memory-mapped
	// drivers know only the former.
	_ "periph.io/x/host/v3/gpioioctl"
)

// Board is a board's devices, opened: the LEDs the state shows on and the
// front button. *Hardware and *Sim are Boards.
type Board interface {
	Profile() Profile
	Lights() leds.Lights // the LEDs, for leds.New
	Button() *Button     // the front button, nil if the board has none
	Close() error        // give the LEDs and lines back to the kernel
}

var (
	_ Board = (*Hardware)(nil)
	_ Board = (*Sim)(nil)
)

// Options are how Open opens a board; the zero value is the box's.
type Options struct {
	Root   string                                // the file system root for /sys ("/" if empty)
	LEDs   Wiring                                // the LED set ("" for the profile's)
	Button ButtonConfig                          // the button's timing
	Log    *slog.Logger                          // where missing hardware is reported (nil: discarded)
	Lines  func(name string) (gpio.PinIO, error) // GPIO lines by name (nil: the kernel's GPIO character devices)
}

// ErrNoLine reports a GPIO line the kernel does not have.
var ErrNoLine = errors.New("no such GPIO line")

// Hardware is a real board's LEDs and button.
type Hardware struct {
	profile Profile
	lights  leds.Lights
	button  *Button
	closers []func() error
}

// Open opens the devices of profile p; the "sim" profile gives a new Sim.
// Missing hardware (an LED, the button, the GPIO driver) is logged and
// left out, so a box without its front panel still protects; an unknown
// LED set is an error.
func Open(p Profile, opt Options) (Board, error) {
	if p.Name == "sim" {
		return NewSim(opt.Button), nil
	}
	if opt.Root == "" {
		opt.Root = "/"
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Lines == nil {
		opt.Lines = periphLines(opt.Log)
	}
	wiring := opt.LEDs
	if wiring == "" {
		wiring = p.LEDs
	}
	h := &Hardware{profile: p}
	if err := h.openLights(wiring, opt); err != nil {
		return nil, fmt.Errorf("board %s: %w", p.Name, err)
	}
	if p.Button != "" {
		if pin, err := opt.Lines(p.Button); err != nil {
			opt.Log.Warn("board: no front button", "line", p.Button, "err", err)
		} else {
			h.button = NewButton(pin, opt.Button)
			h.addCloser(pin)
		}
	}
	return h, nil
}

func (h *Hardware) openLights(w Wiring, opt Options) error {
	var lines [3]string // red, green, blue
	switch w {
	case WiringNone:
		return nil
	case WiringOnboard:
		h.lights.Green = h.sysfsLED(opt, "green", h.profile.Onboard.Green)
		h.lights.Red = h.sysfsLED(opt, "red", h.profile.Onboard.Red)
		return nil
	case WiringRGB:
		lines = [3]string{h.profile.RGB.Red, h.profile.RGB.Green, h.profile.RGB.Blue}
	case WiringBiColour:
		lines = [3]string{h.profile.RGB.Red, h.profile.RGB.Green}
	default:
		return fmt.Errorf("LEDs %q: want one of %s, %s, %s, %s", w, WiringOnboard, WiringRGB, WiringBiColour, WiringNone)
	}
	var pins [3]leds.Light
	for i, name := range lines {
		if name == "" {
			continue
		}
		pin, err := opt.Lines(name)
		if err != nil {
			// Without one colour the others would lie: show none.
			opt.Log.Warn("board: LEDs left out", "leds", w, "line", name, "err", err)
			return h.Close()
		}
		pins[i] = pin
		h.addCloser(pin)
	}
	h.lights = leds.Lights{Red: pins[0], Green: pins[1], Blue: pins[2]}
	return nil
}

// sysfsLED opens an on-board LED, or returns nil (logged) if it is absent.
func (h *Hardware) sysfsLED(opt Options, colour string, names []string) leds.Light {
	if len(names) == 0 {
		return nil
	}
	l, err := OpenSysfsLED(opt.Root, names...)
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, fs.ErrNotExist) {
			level = slog.LevelInfo // boards and kernels differ in which LEDs they expose
		}
		opt.Log.Log(context.Background(), level, "board: no on-board LED", "colour", colour, "err", err)
		return nil
	}
	h.closers = append(h.closers, l.Close)
	return l
}

// addCloser releases a GPIO line when the board closes.
func (h *Hardware) addCloser(pin any) {
	if c, ok := pin.(interface{ Close() }); ok {
		h.closers = append(h.closers, func() error { c.Close(); return nil })
	}
}

// Profile returns the board's profile.
func (h *Hardware) Profile() Profile { return h.profile }

// Lights returns the LEDs that were found.
func (h *Hardware) Lights() leds.Lights { return h.lights }

// Button returns the front button, or nil.
func (h *Hardware) Button() *Button { return h.button }

// Close releases the GPIO lines and gives the on-board LEDs back to their
// kernel triggers. The LEDs keep their last level: stop the LED engine
// first to turn them off.
func (h *Hardware) Close() error {
	var errs []error
	for i := len(h.closers) - 1; i >= 0; i-- {
		errs = append(errs, h.closers[i]())
	}
	h.closers, h.lights, h.button = nil, leds.Lights{}, nil
	return errors.Join(errs...)
}

// periphLines returns the GPIO lines of the kernel's GPIO character
// devices, by the name the gpiochip gives them ("GPIO17"). periph keeps
// its drivers and lines in a process-wide registry, which driverreg.Init
// fills on its first call and returns as it is on later ones.
func periphLines(log *slog.Logger) func(string) (gpio.PinIO, error) {
	var once sync.Once
	var initErr error
	return func(name string) (gpio.PinIO, error) {
		once.Do(func() { initErr = initPeriph(log) })
		if initErr != nil {
			return nil, initErr
		}
		p := gpioreg.ByName(name)
		if p == nil {
			return nil, fmt.Errorf("gpio line %s: %w", name, ErrNoLine)
		}
		return p, nil
	}
}

// initPeriph loads periph's drivers, logging the skipped and failed ones.
func initPeriph(log *slog.Logger) error {
	st, err := driverreg.Init()
	if err != nil {
		return fmt.Errorf("gpio: %w", err)
	}
	for _, d := range st.Loaded {
		log.Debug("gpio: driver loaded", "driver", d)
	}
	for _, f := range st.Skipped {
		log.Info("gpio: driver skipped", "driver", f.D, "why", f.Err)
	}
	for _, f := range st.Failed {
		log.Warn("gpio: driver failed", "driver", f.D, "err", f.Err)
	}
	return nil
}
