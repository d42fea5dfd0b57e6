package board

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sipguard/sipguard/leds"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// Sim is a simulated board for the demo and the tests: an RGB LED whose
// levels can be read, and a button that takes injected presses. It drives
// no hardware. Its methods are safe for concurrent use.
type Sim struct {
	red, green, blue *gpiotest.Pin
	btn              *gpiotest.Pin
	button           *Button
	changed          chan struct{} // buffered 1: an LED was written
}

// NewSim returns a simulated board whose button has timing cfg.
func NewSim(cfg ButtonConfig) *Sim {
	s := &Sim{
		red:     &gpiotest.Pin{N: "sim-red"},
		green:   &gpiotest.Pin{N: "sim-green"},
		blue:    &gpiotest.Pin{N: "sim-blue"},
		btn:     &gpiotest.Pin{N: "sim-button", L: gpio.High, EdgesChan: make(chan gpio.Level, 64)},
		changed: make(chan struct{}, 1),
	}
	s.button = NewButton(s.btn, cfg)
	return s
}

// simLight is a simulated LED that tells the board when it is written.
type simLight struct {
	*gpiotest.Pin
	changed chan<- struct{}
}

func (l simLight) Out(level gpio.Level) error {
	if err := l.Pin.Out(level); err != nil {
		return err
	}
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return nil
}

// Profile returns the "sim" profile.
func (s *Sim) Profile() Profile {
	p, _ := ByName("sim")
	return p
}

// Lights returns the simulated RGB LED.
func (s *Sim) Lights() leds.Lights {
	return leds.Lights{
		Red:   simLight{s.red, s.changed},
		Green: simLight{s.green, s.changed},
		Blue:  simLight{s.blue, s.changed},
	}
}

// Button returns the simulated button.
func (s *Sim) Button() *Button { return s.button }

// Close does nothing: a simulated board holds no resources.
func (s *Sim) Close() error { return nil }

// Press presses the button for hold, with a few milliseconds of contact
// bounce at each end, and returns when it is released. The button's Run
// must be running to see it. If ctx ends first, the button is released at
// once and Press returns ctx's error.
func (s *Sim) Press(ctx context.Context, hold time.Duration) error {
	s.edges(gpio.Low)
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	s.edges(gpio.High)
	return ctx.Err()
}

// edges moves the button line to level, bouncing on the way as a real
// switch does for a millisecond or two.
func (s *Sim) edges(level gpio.Level) {
	for i, l := range []gpio.Level{level, !level, level} {
		if i > 0 {
			time.Sleep(time.Millisecond)
		}
		s.btn.EdgesChan <- l
	}
}

// SimLEDs is the level of each simulated LED.
type SimLEDs struct {
	Red, Green, Blue bool
}

// LEDs returns the simulated LEDs' levels now.
func (s *Sim) LEDs() SimLEDs {
	return SimLEDs{Red: bool(s.red.Read()), Green: bool(s.green.Read()), Blue: bool(s.blue.Read())}
}

// Colour names the colour the LEDs make: "off", "red", "green", "blue",
// "amber" (red and green), or a mix such as "red+blue".
func (l SimLEDs) Colour() string {
	switch l {
	case SimLEDs{}:
		return "off"
	case SimLEDs{Red: true, Green: true}:
		return "amber"
	}
	s := ""
	for _, c := range []struct {
		on   bool
		name string
	}{{l.Red, "red"}, {l.Green, "green"}, {l.Blue, "blue"}} {
		if c.on {
			if s != "" {
				s += "+"
			}
			s += c.name
		}
	}
	return s
}

// String shows the LEDs as a terminal line: "R● G○ B○ red".
func (l SimLEDs) String() string {
	return fmt.Sprintf("R%s G%s B%s %s", dot(l.Red), dot(l.Green), dot(l.Blue), l.Colour())
}

// ANSI shows the LEDs in colour on a terminal: one lit or dark dot per LED.
func (l SimLEDs) ANSI() string {
	paint := func(on bool, code string) string {
		if !on {
			return "\x1b[2m○\x1b[0m"
		}
		return "\x1b[" + code + "m●\x1b[0m"
	}
	return fmt.Sprintf("%s %s %s %s", paint(l.Red, "31"), paint(l.Green, "32"), paint(l.Blue, "34"), l.Colour())
}

func dot(on bool) string {
	if on {
		return "●"
	}
	return "○"
}

// watchSettle is how long Watch lets a change of the LEDs settle.
const watchSettle = 5 * time.Millisecond

// Watch writes a line to w each time the simulated LEDs change (in
// colour if ansi), until ctx is done.
func (s *Sim) Watch(ctx context.Context, w io.Writer, ansi bool) error {
	var last SimLEDs
	first := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.changed:
		}
		// The engine writes the LEDs one after the other: let it finish
		// so a change from green to red does not print amber between.
		time.Sleep(watchSettle)
		select {
		case <-s.changed:
		default:
		}
		l := s.LEDs()
		if l == last && !first {
			continue
		}
		last, first = l, false
		line := l.String()
		if ansi {
			line = l.ANSI()
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return fmt.Errorf("sim: show LEDs: %w", err)
		}
	}
}
