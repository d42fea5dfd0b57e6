package leds

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Engine shows the box's State on its Lights. Its methods are safe for
// concurrent use; Run is the one goroutine that drives the LEDs.
type Engine struct {
	lights Lights
	log    *slog.Logger
	wake   chan struct{} // buffered 1: the state changed

	mu    sync.Mutex
	state State
	mode  Mode
	since time.Time // when mode began
	shown Colour    // the colour last written to the LEDs
	drawn bool      // the LEDs show shown: false at start and after a failed write
	fails bool      // the last write failed (logged once per run of failures)
}

// New returns an engine for lights, showing Booting until SetReady. A nil
// log discards the engine's messages.
func New(lights Lights, log *slog.Logger) (*Engine, error) {
	if err := lights.Check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{lights: lights, log: log, wake: make(chan struct{}, 1), mode: Booting, since: time.Now()}, nil
}

// Run drives the LEDs until ctx is done, then turns them off and returns
// nil. Failing LED writes are logged, not returned: a broken LED must not
// stop the box.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		if next := e.render(time.Now()); next.IsZero() {
			t.Stop()
		} else {
			t.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			if err := e.lights.Show(Off); err != nil {
				e.log.Warn("leds: turn off", "err", err)
			}
			return nil
		case <-e.wake:
		case <-t.C:
		}
	}
}

// render shows the state at now and returns when to render again.
func (e *Engine) render(now time.Time) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m := e.state.Mode(now); m != e.mode {
		e.mode, e.since = m, now
	}
	c, next := Show(e.state, e.since, now, e.lights.Mono())
	if c == e.shown && e.drawn {
		return next
	}
	err := e.lights.Show(c)
	switch {
	case err != nil && !e.fails:
		e.log.Warn("leds: cannot drive LEDs", "err", err)
	case err == nil && e.fails:
		e.log.Info("leds: LEDs driven again")
	}
	e.shown, e.drawn, e.fails = c, err == nil, err != nil
	if retry := now.Add(time.Second); e.fails && (next.IsZero() || next.After(retry)) {
		next = retry
	}
	return next
}

// update changes the state under the lock and wakes Run.
func (e *Engine) update(f func(s *State, now time.Time)) {
	e.mu.Lock()
	f(&e.state, time.Now())
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// SetReady reports whether every service is up (protecting) or not
// (booting).
func (e *Engine) SetReady(ready bool) {
	e.update(func(s *State, _ time.Time) { s.Ready = ready })
}

// SetFault sets or clears faults f.
func (e *Engine) SetFault(f Fault, on bool) {
	e.update(func(s *State, _ time.Time) {
		if on {
			s.Faults |= f
		} else {
			s.Faults &^= f
		}
	})
}

// SetUpdating reports whether a firmware update is being written.
func (e *Engine) SetUpdating(on bool) {
	e.update(func(s *State, _ time.Time) { s.Updating = on })
}

// Ban records a ban now: the attack colour shows for AttackHold from now,
// with a blip unless one is already showing.
func (e *Engine) Ban() {
	e.update(func(s *State, now time.Time) {
		s.LastBan = now
		if now.Sub(s.BlipAt) >= 2*BlipLength {
			s.BlipAt = now
		}
	})
}

// StatusBlink shows the lamp test for StatusBlinkLength (a short press).
func (e *Engine) StatusBlink() {
	e.update(func(s *State, now time.Time) { s.StatusUntil = now.Add(StatusBlinkLength) })
}

// ArmReset shows the factory reset countdown at progress (0 to 1); at 1
// the reset is under way.
func (e *Engine) ArmReset(progress float64) {
	e.update(func(s *State, _ time.Time) { s.ResetProgress = min(max(progress, 0.001), 1) })
}

// CancelReset ends the factory reset countdown.
func (e *Engine) CancelReset() {
	e.update(func(s *State, _ time.Time) { s.ResetProgress = 0 })
}

// Status is a snapshot of the engine, for the API and the simulated
// board's display.
type Status struct {
	Mode          Mode      `json:"mode"`
	Look          string    `json:"look"`    // the mode's pattern, such as "green steady"
	Showing       Colour    `json:"showing"` // the colour lit at this instant
	Faults        Fault     `json:"faults"`
	Ready         bool      `json:"ready"`
	Updating      bool      `json:"updating"`
	LastBan       time.Time `json:"last_ban,omitzero"`
	ResetProgress float64   `json:"reset_progress,omitempty"`
	LEDs          int       `json:"leds"` // how many physical LEDs show it
}

// Status returns the engine's state now.
func (e *Engine) Status() Status {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.state.Mode(now)
	since := e.since
	if m != e.mode {
		since = now
	}
	mono := e.lights.Mono()
	c, _ := Show(e.state, since, now, mono)
	look := LookOf(m).Colour
	if mono {
		look = LookOf(m).Mono
	}
	return Status{
		Mode: m, Look: look.String(), Showing: c, Faults: e.state.Faults,
		Ready: e.state.Ready, Updating: e.state.Updating, LastBan: e.state.LastBan,
		ResetProgress: e.state.ResetProgress, LEDs: e.lights.Count(),
	}
}

// String describes the status in one line, such as
// "attack (amber steady), showing amber, faults none".
func (s Status) String() string {
	return fmt.Sprintf("%s (%s), showing %s, faults %s", s.Mode, s.Look, s.Showing, s.Faults)
}
