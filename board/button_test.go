package board

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

const ms = time.Millisecond

// recorder collects a button's events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) emit(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// String lists the events as "kind@held", such as "short-press@304ms".
func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, ev := range r.events {
		s = append(s, fmt.Sprintf("%s@%v", ev.Kind, ev.Held))
	}
	return strings.Join(s, " ")
}

// runButton runs a button on a fake pin in the test's bubble; the pin
// starts released (high, as the pull-up holds it).
func runButton(t *testing.T, cfg ButtonConfig) (*gpiotest.Pin, *recorder) {
	t.Helper()
	pin := &gpiotest.Pin{N: "GPIO26", L: gpio.High, EdgesChan: make(chan gpio.Level, 16)}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- NewButton(pin, cfg).Run(ctx, rec.emit) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	synctest.Wait()
	return pin, rec
}

// edges sends levels to the pin 1 ms apart: a bouncing contact.
func edges(pin *gpiotest.Pin, levels ...gpio.Level) {
	for i, l := range levels {
		if i > 0 {
			time.Sleep(ms)
		}
		pin.EdgesChan <- l
	}
}

var (
	bouncyPress   = []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low} // 0 to 4 ms
	bouncyRelease = []gpio.Level{gpio.High, gpio.Low, gpio.High}                     // 0 to 2 ms
)

func TestButtonBouncyShortPressCountsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, rec := runButton(t, ButtonConfig{})
		edges(pin, bouncyPress...)
		time.Sleep(300 * ms)
		edges(pin, bouncyRelease...)
		time.Sleep(time.Second)
		// Held from the first edge of the press to the first of the release.
		if got := rec.String(); got != "short-press@304ms" {
			t.Errorf("events %q, want one short press of 304 ms", got)
		}
	})
}

func TestButtonGlitchShorterThanDebounceIsIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, rec := runButton(t, ButtonConfig{})
		edges(pin, gpio.Low, gpio.High) // 1 ms of low: interference, not a finger
		time.Sleep(5 * time.Second)
		if got := rec.String(); got != "" {
			t.Errorf("events %q after a 1 ms glitch, want none", got)
		}
	})
}

func TestButtonReleaseAt5sCancelsTheReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, rec := runButton(t, ButtonConfig{})
		edges(pin, bouncyPress...)
		time.Sleep(4900 * ms) // released just before the 5 s tick
		edges(pin, bouncyRelease...)
		time.Sleep(time.Minute)
		want := "reset-armed@2s reset-armed@3s reset-armed@4s reset-cancelled@4.904s"
		if got := rec.String(); got != want {
			t.Errorf("events\n got %q\nwant %q", got, want)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if p := rec.events[0].Progress; p != 0.2 {
			t.Errorf("progress at 2 s = %v, want 0.2", p)
		}
	})
}

func TestButtonHold10sResetsOnce(t *testing.T) {
	for _, hold := range []time.Duration{10 * time.Second, 10*time.Second + 500*ms, time.Minute} {
		t.Run(hold.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pin, rec := runButton(t, ButtonConfig{})
				pin.EdgesChan <- gpio.Low
				time.Sleep(hold)
				pin.EdgesChan <- gpio.High
				time.Sleep(time.Minute)
				got := rec.String()
				want := "reset-armed@2s reset-armed@3s reset-armed@4s reset-armed@5s reset-armed@6s reset-armed@7s reset-armed@8s reset-armed@9s factory-reset@10s"
				if got != want {
					t.Errorf("events\n got %q\nwant %q", got, want)
				}
			})
		})
	}
}

func TestButtonTwoPressesTwoEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, rec := runButton(t, ButtonConfig{})
		for range 2 {
			edges(pin, bouncyPress...)
			time.Sleep(100 * ms)
			edges(pin, bouncyRelease...)
			time.Sleep(200 * ms)
		}
		if got := rec.String(); got != "short-press@104ms short-press@104ms" {
			t.Errorf("events %q, want two short presses", got)
		}
	})
}

func TestButtonCustomTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, rec := runButton(t, ButtonConfig{Debounce: 5 * ms, ArmAfter: time.Second, ResetHold: 3 * time.Second, Tick: 500 * ms})
		pin.EdgesChan <- gpio.Low
		time.Sleep(4 * time.Second)
		pin.EdgesChan <- gpio.High
		time.Sleep(time.Second)
		want := "reset-armed@1s reset-armed@1.5s reset-armed@2s reset-armed@2.5s factory-reset@3s"
		if got := rec.String(); got != want {
			t.Errorf("events\n got %q\nwant %q", got, want)
		}
	})
}

// stuckPin is a button line held low whatever the pull: the button is
// held at power-on.
type stuckPin struct {
	*gpiotest.Pin
}

func (p stuckPin) In(gpio.Pull, gpio.Edge) error { return nil }

func TestButtonHeldAtStartIsNotAPress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := stuckPin{&gpiotest.Pin{N: "GPIO26", L: gpio.Low, EdgesChan: make(chan gpio.Level, 4)}}
		b := NewButton(pin, ButtonConfig{})
		if held, err := b.Held(); err != nil || !held {
			t.Fatalf("Held = %t, %v; want true (recovery)", held, err)
		}
		rec := &recorder{}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		defer func() { cancel(); <-done }()
		go func() { _ = b.Run(ctx, rec.emit); close(done) }()
		time.Sleep(30 * time.Second) // held through boot: no countdown
		pin.EdgesChan <- gpio.High
		time.Sleep(time.Second)
		if got := rec.String(); got != "" {
			t.Fatalf("events %q for the power-on hold, want none", got)
		}
		pin.EdgesChan <- gpio.Low // a real press afterwards counts
		time.Sleep(200 * ms)
		pin.EdgesChan <- gpio.High
		time.Sleep(time.Second)
		if got := rec.String(); got != "short-press@200ms" {
			t.Errorf("events %q, want the later short press", got)
		}
	})
}

// scripted reads the given levels in turn, then the last one.
type scripted struct {
	*gpiotest.Pin
	levels []gpio.Level
}

func (p *scripted) In(gpio.Pull, gpio.Edge) error { return nil }

func (p *scripted) Read() gpio.Level {
	l := p.levels[0]
	if len(p.levels) > 1 {
		p.levels = p.levels[1:]
	}
	return l
}

func TestButtonHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			levels []gpio.Level
			want   bool
		}{
			{"released", []gpio.Level{gpio.High}, false},
			{"held", []gpio.Level{gpio.Low}, true},
			{"a bounce while sampling", []gpio.Level{gpio.Low, gpio.Low, gpio.High, gpio.Low}, false},
		} {
			held, err := NewButton(&scripted{&gpiotest.Pin{N: "b"}, tc.levels}, ButtonConfig{}).Held()
			if err != nil || held != tc.want {
				t.Errorf("%s: Held = %t, %v; want %t", tc.name, held, err, tc.want)
			}
		}
		// The pull-up is on for a released button (gpiotest reads high).
		if held, _ := NewButton(&gpiotest.Pin{N: "b"}, ButtonConfig{}).Held(); held {
			t.Error("a floating line pulled up reads as held")
		}
	})
}

type brokenPin struct{ *gpiotest.Pin }

func (brokenPin) In(gpio.Pull, gpio.Edge) error { return errors.New("line busy") }

func TestButtonPinErrors(t *testing.T) {
	b := NewButton(brokenPin{&gpiotest.Pin{N: "GPIO26"}}, ButtonConfig{})
	if err := b.Run(t.Context(), func(Event) {}); err == nil || !strings.Contains(err.Error(), "button GPIO26(0): line busy") {
		t.Errorf("Run = %v, want the pin's error", err)
	}
	if _, err := b.Held(); err == nil {
		t.Error("Held on a broken pin: no error")
	}
}

func TestButtonRunStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := &gpiotest.Pin{N: "b", EdgesChan: make(chan gpio.Level)}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- NewButton(pin, ButtonConfig{}).Run(ctx, func(Event) {}) }()
		time.Sleep(time.Hour)
		start := time.Now()
		cancel()
		if err := <-done; err != nil || time.Since(start) > idleWait {
			t.Errorf("Run = %v after %v, want nil within %v", err, time.Since(start), idleWait)
		}
	})
}

func TestTrackerWaitIsNeverZero(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := tracker{cfg: ButtonConfig{}.withDefaults()}
	if d := tr.wait(now); d != idleWait {
		t.Errorf("idle wait %v, want %v", d, idleWait)
	}
	tr.edge(now.Add(-time.Second)) // settle deadline long past
	if d := tr.wait(now); d <= 0 {
		t.Errorf("wait after a late poll = %v, want > 0 (0 waits for ever on the cdev driver)", d)
	}
	if EventKind(0).String() != "event(0)" || FactoryReset.String() != "factory-reset" {
		t.Error("event names")
	}
}
