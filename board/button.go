package board

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// EventKind is what the button did.
type EventKind uint8

// The button's events. A press shorter than ArmAfter is a ShortPress. A
// longer one arms the factory reset: ResetArmed repeats while it is held,
// and it ends in FactoryReset (held for ResetHold) or ResetCancelled
// (released before).
const (
	ShortPress EventKind = iota + 1
	ResetArmed
	ResetCancelled
	FactoryReset
)

var eventNames = [...]string{ShortPress: "short-press", ResetArmed: "reset-armed", ResetCancelled: "reset-cancelled", FactoryReset: "factory-reset"}

// String returns the event's name, such as "reset-armed".
func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", k)
}

// Event is one thing the button did.
type Event struct {
	Kind     EventKind
	Held     time.Duration // how long the button has been (or was) held
	Progress float64       // Held/ResetHold, for ResetArmed and FactoryReset
}

// ButtonConfig is the button's timing; zero fields take the defaults.
type ButtonConfig struct {
	Debounce  time.Duration // a level must hold this long to count (default 30 ms)
	ArmAfter  time.Duration // a press this long arms the factory reset (default 2 s)
	ResetHold time.Duration // a press this long resets (default 10 s)
	Tick      time.Duration // ResetArmed repeats this often while held (default 1 s)
}

func (c ButtonConfig) withDefaults() ButtonConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Debounce, 30*time.Millisecond)
	def(&c.ArmAfter, 2*time.Second)
	def(&c.ResetHold, 10*time.Second)
	def(&c.Tick, time.Second)
	return c
}

// idleWait bounds each wait for an edge, so Run notices a canceled
// context even on a pin whose Halt cannot interrupt the wait.
const idleWait = 500 * time.Millisecond

// Button is the front button: a normally open switch from a GPIO line to
// ground, with the line's pull-up on, so pressed reads low.
type Button struct {
	pin gpio.PinIn
	cfg ButtonConfig
}

// NewButton returns the button on pin. It does not touch the pin until
// Held or Run.
func NewButton(pin gpio.PinIn, cfg ButtonConfig) *Button {
	return &Button{pin: pin, cfg: cfg.withDefaults()}
}

// Held reports whether the button is held now, read five times 10 ms
// apart so a bounce or noise does not count. It is the recovery hook: the
// box starts the previous firmware when the button is held at power-on.
func (b *Button) Held() (bool, error) {
	if err := b.pin.In(gpio.PullUp, gpio.NoEdge); err != nil {
		return false, fmt.Errorf("button %s: %w", b.pin, err)
	}
	for i := range 5 {
		if i > 0 {
			time.Sleep(10 * time.Millisecond)
		}
		if b.pin.Read() != gpio.Low {
			return false, nil
		}
	}
	return true, nil
}

// Run watches the button until ctx is done and calls emit for each event,
// from Run's goroutine (emit should return promptly). A press already
// held when Run starts is ignored until released. Run returns nil when ctx
// is done, or an error if the pin cannot be set up.
func (b *Button) Run(ctx context.Context, emit func(Event)) error {
	if err := b.pin.In(gpio.PullUp, gpio.BothEdges); err != nil {
		return fmt.Errorf("button %s: %w", b.pin, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = b.pin.Halt() })
	defer stop()
	down := b.pin.Read() == gpio.Low
	t := tracker{cfg: b.cfg, down: down, ignore: down}
	for ctx.Err() == nil {
		if b.pin.WaitForEdge(t.wait(time.Now())) {
			t.edge(time.Now())
			continue
		}
		t.poll(time.Now(), b.pin.Read() == gpio.Low, emit)
	}
	return nil
}

// tracker debounces the button and turns presses into events. It sees
// time only through its arguments.
type tracker struct {
	cfg       ButtonConfig
	down      bool      // the debounced state: pressed
	settling  bool      // edges came; the level is not yet trusted
	burst     time.Time // first edge since the level was last trusted
	last      time.Time // last edge
	pressedAt time.Time // start of the current press
	nextTick  time.Time // next ResetArmed or FactoryReset while held
	fired     bool      // FactoryReset sent for the current press
	ignore    bool      // held since before Run: no events until released
}

// counting reports whether a held button is counting towards the reset.
func (t *tracker) counting() bool { return t.down && !t.ignore && !t.fired }

// wait returns how long to wait for an edge before polling again: never
// zero, which some drivers take as "for ever".
func (t *tracker) wait(now time.Time) time.Duration {
	d := idleWait
	if t.settling {
		d = min(d, t.last.Add(t.cfg.Debounce).Sub(now))
	} else if t.counting() {
		d = min(d, t.nextTick.Sub(now))
	}
	return max(d, time.Millisecond)
}

// edge records an edge at now.
func (t *tracker) edge(now time.Time) {
	if !t.settling {
		t.settling, t.burst = true, now
	}
	t.last = now
}

// poll takes the level read at now, once no edge came for a while.
func (t *tracker) poll(now time.Time, down bool, emit func(Event)) {
	if t.settling {
		if now.Sub(t.last) < t.cfg.Debounce {
			return
		}
		t.settling = false
		if down != t.down {
			t.down = down
			if down {
				t.pressedAt, t.nextTick, t.fired = t.burst, t.burst.Add(t.cfg.ArmAfter), false
			} else {
				t.release(t.burst.Sub(t.pressedAt), emit)
			}
		}
	}
	if t.counting() && !now.Before(t.nextTick) {
		t.tick(now.Sub(t.pressedAt), emit)
	}
}

// tick reports a button held for held.
func (t *tracker) tick(held time.Duration, emit func(Event)) {
	if held >= t.cfg.ResetHold {
		t.fired = true
		emit(Event{Kind: FactoryReset, Held: held, Progress: 1})
		return
	}
	emit(Event{Kind: ResetArmed, Held: held, Progress: float64(held) / float64(t.cfg.ResetHold)})
	next := t.nextTick.Add(t.cfg.Tick)
	if now := t.pressedAt.Add(held); !next.After(now) { // woke late: no burst of ticks
		next = now.Add(t.cfg.Tick)
	}
	if end := t.pressedAt.Add(t.cfg.ResetHold); next.After(end) {
		next = end
	}
	t.nextTick = next
}

// release reports a press of length held.
func (t *tracker) release(held time.Duration, emit func(Event)) {
	switch {
	case t.ignore:
		t.ignore = false
	case t.fired:
	case held >= t.cfg.ResetHold:
		// Held the full time, released before the countdown woke.
		t.fired = true
		emit(Event{Kind: FactoryReset, Held: held, Progress: 1})
	case held >= t.cfg.ArmAfter:
		emit(Event{Kind: ResetCancelled, Held: held})
	default:
		emit(Event{Kind: ShortPress, Held: held})
	}
}
