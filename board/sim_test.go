package board

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sipguard/sipguard/leds"
)

// fakeResetter counts factory resets and fails them if err is set.
type fakeResetter struct {
	calls atomic.Int32
	err   error
}

func (r *fakeResetter) FactoryReset(context.Context) error {
	r.calls.Add(1)
	return r.err
}

// simBox runs what the daemon runs on a simulated board: the LED engine
// and the button with ButtonActions. Everything stops when the test ends.
func simBox(t *testing.T, r Resetter) (*Sim, *leds.Engine) {
	t.Helper()
	sim := NewSim(ButtonConfig{})
	eng, err := leds.New(sim.Lights(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = eng.Run(ctx) })
	wg.Go(func() { _ = sim.Button().Run(ctx, ButtonActions(ctx, eng, r, nil)) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	eng.SetReady(true)
	synctest.Wait()
	return sim, eng
}

// pressAsync starts a press and returns a channel closed at its release.
func pressAsync(ctx context.Context, sim *Sim, hold time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() { _ = sim.Press(ctx, hold); close(done) }()
	return done
}

func TestSimFactoryResetCancelledAt5s(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeResetter{}
		sim, eng := simBox(t, r)
		if got := sim.LEDs().Colour(); got != "green" {
			t.Fatalf("protecting shows %s, want green", got)
		}
		released := pressAsync(t.Context(), sim, 5*time.Second)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if s := eng.Status(); s.Mode != leds.ResetArmed {
			t.Errorf("held 3 s: mode %v, want reset-armed", s.Mode)
		}
		var seen []string
		for range 4 {
			seen = append(seen, sim.LEDs().Colour())
			time.Sleep(125 * time.Millisecond)
			synctest.Wait()
		}
		if got := strings.Join(seen, " "); got != "red off red off" && got != "off red off red" {
			t.Errorf("countdown shows %q, want red blinking every 125 ms", got)
		}
		<-released
		time.Sleep(time.Second)
		synctest.Wait()
		if n := r.calls.Load(); n != 0 {
			t.Errorf("%d factory resets after a 5 s press, want 0", n)
		}
		if got := sim.LEDs().Colour(); got != "green" {
			t.Errorf("after the cancelled countdown: %s, want green", got)
		}
	})
}

func TestSimLongPresses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hold, cut time.Duration // cut: the press's context ends then (0: never)
		resetErr  error
		resets    int32
		mode      leds.Mode
		colour    string
	}{
		{"held 12 s: one reset", 12 * time.Second, 0, nil, 1, leds.Resetting, "red"},
		{"held 10 s: one reset", 10 * time.Second, 0, nil, 1, leds.Resetting, "red"},
		{"released at 5 s: none", 5 * time.Second, 0, nil, 0, leds.Protecting, "green"},
		{"press cut at 4 s: none", 10 * time.Second, 4 * time.Second, nil, 0, leds.Protecting, "green"},
		{"failed reset: countdown cleared", 10 * time.Second, 0, errors.New("data partition read-only"), 1, leds.Protecting, "green"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := &fakeResetter{err: tc.resetErr}
				sim, eng := simBox(t, r)
				ctx := t.Context()
				if tc.cut > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.cut)
					defer cancel()
				}
				if err := sim.Press(ctx, tc.hold); (err != nil) != (tc.cut > 0) {
					t.Errorf("Press = %v", err)
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				if n := r.calls.Load(); n != tc.resets {
					t.Errorf("%d factory resets, want %d", n, tc.resets)
				}
				if m, c := eng.Status().Mode, sim.LEDs().Colour(); m != tc.mode || c != tc.colour {
					t.Errorf("then %v showing %s, want %v showing %s", m, c, tc.mode, tc.colour)
				}
			})
		})
	}
}

func TestSimShortPressShowsTheLampTest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeResetter{}
		sim, _ := simBox(t, r)
		if err := sim.Press(t.Context(), 200*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// Debounced release: the lamp test starts 30 ms after the release.
		var seen []string
		for range 4 {
			time.Sleep(300 * time.Millisecond)
			synctest.Wait()
			seen = append(seen, sim.LEDs().Colour())
		}
		if got := strings.Join(seen, " "); got != "red amber green off" {
			t.Errorf("lamp test %q, want red amber green off", got)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := sim.LEDs().Colour(); got != "green" || r.calls.Load() != 0 {
			t.Errorf("after the lamp test: %s, %d resets; want green, 0", got, r.calls.Load())
		}
	})
}

func TestSimLEDsDisplay(t *testing.T) {
	for _, tc := range []struct {
		l       SimLEDs
		colour  string
		display string
	}{
		{SimLEDs{}, "off", "R○ G○ B○ off"},
		{SimLEDs{Green: true}, "green", "R○ G● B○ green"},
		{SimLEDs{Red: true, Green: true}, "amber", "R● G● B○ amber"},
		{SimLEDs{Blue: true}, "blue", "R○ G○ B● blue"},
		{SimLEDs{Red: true, Blue: true}, "red+blue", "R● G○ B● red+blue"},
	} {
		if got := tc.l.Colour(); got != tc.colour {
			t.Errorf("%+v: Colour %q, want %q", tc.l, got, tc.colour)
		}
		if got := tc.l.String(); got != tc.display {
			t.Errorf("%+v: String %q, want %q", tc.l, got, tc.display)
		}
	}
	if got := (SimLEDs{Red: true}).ANSI(); got != "\x1b[31m●\x1b[0m \x1b[2m○\x1b[0m \x1b[2m○\x1b[0m red" {
		t.Errorf("ANSI %q", got)
	}
}

func TestSimWatchPrintsChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := NewSim(ButtonConfig{})
		eng, _ := leds.New(sim.Lights(), nil)
		watchCtx, stopWatch := context.WithCancel(t.Context())
		engCtx, stopEngine := context.WithCancel(t.Context())
		var out bytes.Buffer // read once Watch has returned
		watched, ran := make(chan error, 1), make(chan error, 1)
		go func() { watched <- sim.Watch(watchCtx, &out, false) }()
		go func() { ran <- eng.Run(engCtx) }()
		time.Sleep(2500 * time.Millisecond) // booting: on, off, on
		eng.SetReady(true)                  // still green: no new line
		eng.SetFault(leds.FaultLANDown, true)
		time.Sleep(time.Second)
		stopEngine() // the engine turns the LEDs off
		<-ran
		time.Sleep(time.Second)
		stopWatch()
		if err := <-watched; err != nil {
			t.Errorf("Watch = %v", err)
		}
		want := "R○ G● B○ green\nR○ G○ B○ off\nR○ G● B○ green\nR● G○ B○ red\nR○ G○ B○ off\n"
		if got := out.String(); got != want {
			t.Errorf("Watch printed\n%s\nwant\n%s", got, want)
		}
	})
}
