package leds

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// counting is a gpiotest.Pin that counts writes.
type counting struct {
	*gpiotest.Pin
	n atomic.Int32
}

func (c *counting) Out(l gpio.Level) error { c.n.Add(1); return c.Pin.Out(l) }

// rgb starts an engine on a fake RGB LED and returns it with its pins.
// The engine stops when the test ends.
func rgb(t *testing.T) (*Engine, [3]*gpiotest.Pin, func()) {
	t.Helper()
	p := [3]*gpiotest.Pin{pin("R"), pin("G"), pin("B")}
	e, err := New(Lights{Red: p[0], Green: p[1], Blue: p[2]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
	synctest.Wait()
	return e, p, stop
}

// after sleeps d on the bubble's clock and lets the engine catch up.
func after(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// A step of a script: do something to the engine (if do is set), let
// wait pass, then expect the LEDs to show want.
type step struct {
	do   func(e *Engine)
	wait time.Duration
	want string
	what string
}

// play runs a script on a fresh engine driving a fake RGB LED.
func play(t *testing.T, script []step) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		t.Helper()
		e, p, stop := rgb(t)
		defer stop()
		for _, s := range script {
			if s.do != nil {
				s.do(e)
			}
			after(s.wait)
			if got := lit(p[:]...); got != s.want {
				t.Errorf("%s: LEDs %q, want %q", s.what, got, s.want)
			}
		}
	})
}

var (
	ready = func(e *Engine) { e.SetReady(true) }
	ban   = func(e *Engine) { e.Ban() }
)

func TestEngineBootThenProtect(t *testing.T) {
	play(t, []step{
		{nil, 0, "- G -", "boot"},
		{nil, 1500 * ms, "- - -", "boot +1.5 s"},
		{nil, time.Second, "- G -", "boot +2.5 s"},
		{ready, 0, "- G -", "ready"},
		{nil, 10 * time.Hour, "- G -", "ready +10 h"},
	})
}

func TestEngineBanBlipsThenAmberForAnHour(t *testing.T) {
	play(t, []step{
		{ready, 0, "- G -", "ready"},
		{ban, 0, "- - -", "ban"},
		{nil, BlipLength, "R G -", "after the blip"},
		{nil, 30 * time.Minute, "R G -", "30 min later"},
		{ban, 0, "- - -", "second ban"}, // restarts the hour and blips again
		{nil, BlipLength, "R G -", "after the second blip"},
		{nil, AttackHold - time.Minute, "R G -", "59 min after the last ban"},
		{nil, time.Minute, "- G -", "an hour after the last ban"},
	})
}

func TestEngineBansFasterThanBlipsStillShowAmber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, p, stop := rgb(t)
		defer stop()
		e.SetReady(true)
		darkFor := time.Duration(0)
		for range 100 { // 100 bans a second for a second
			e.Ban()
			after(10 * ms)
			if lit(p[:]...) == "- - -" {
				darkFor += 10 * ms
			}
		}
		if darkFor > 600*ms {
			t.Errorf("dark %v of 1 s under a fast attack: blips must not merge into darkness", darkFor)
		}
	})
}

func TestEngineFaultWinsAndClears(t *testing.T) {
	play(t, []step{
		{ready, 0, "- G -", "ready"},
		{ban, time.Second, "R G -", "ban"},
		{func(e *Engine) { e.SetFault(FaultWANDown, true); e.SetFault(FaultTamper, true) }, 0, "R - -", "wan down and tamper"},
		{func(e *Engine) { e.SetFault(FaultWANDown, false) }, 0, "R - -", "tamper still set"},
		{func(e *Engine) {
			if got := e.Status().Faults; got != FaultTamper {
				t.Errorf("faults %v, want tamper", got)
			}
			e.SetFault(FaultTamper, false)
		}, 0, "R G -", "faults cleared, ban recent"},
	})
}

func TestEngineResetCountdownAndCancel(t *testing.T) {
	checkStatus := func(e *Engine) {
		if s := e.Status(); s.Mode != ResetArmed || s.ResetProgress != 0.2 {
			t.Errorf("status %+v, want reset-armed at 0.2", s)
		}
	}
	play(t, []step{
		{func(e *Engine) { e.SetReady(true); e.ArmReset(0.2) }, 0, "R - -", "reset armed"},
		{checkStatus, 125 * ms, "- - -", "armed +125 ms"},
		{nil, 125 * ms, "R - -", "armed +250 ms"},
		{nil, 125 * ms, "- - -", "armed +375 ms"},
		{func(e *Engine) { e.CancelReset() }, 0, "- G -", "cancelled"},
		{func(e *Engine) { e.ArmReset(1) }, 0, "R - -", "resetting"},
		{nil, time.Second, "R - -", "resetting +1 s"},
	})
}

func TestEngineUpdatingIsBlueOnRGB(t *testing.T) {
	play(t, []step{
		{func(e *Engine) { e.SetUpdating(true); e.SetFault(FaultService, true) }, 0, "- - B", "updating"},
		{nil, 750 * ms, "- - -", "updating +0.75 s"},
		{func(e *Engine) { e.SetUpdating(false) }, 0, "R - -", "update done, service restarting"},
	})
}

func TestEngineStatusBlink(t *testing.T) {
	play(t, []step{
		{func(e *Engine) { e.SetReady(true); e.StatusBlink() }, 0, "R - -", "lamp test"},
		{nil, 450 * ms, "R G -", "lamp test +0.45 s"},
		{nil, StatusBlinkLength, "- G -", "after the lamp test"},
	})
}

func TestEngineWritesOnlyOnChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &counting{Pin: pin("G")}
		e, err := New(Lights{Green: g}, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.SetReady(true)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		after(24 * time.Hour)
		if n := g.n.Load(); n != 1 {
			t.Errorf("%d writes in a steady day, want 1", n)
		}
		cancel()
		<-done
		if g.Read() != gpio.Low {
			t.Error("LED still lit after Run returned")
		}
	})
}

func TestEngineStopsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := New(Lights{}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		synctest.Wait()
		start := time.Now()
		cancel()
		if err := <-done; err != nil || time.Since(start) != 0 {
			t.Errorf("Run = %v after %v, want nil at once", err, time.Since(start))
		}
	})
}

func TestEngineRetriesFailedWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{fails: 2}
		e, _ := New(Lights{Green: f}, nil)
		e.SetReady(true)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = e.Run(ctx) }()
		after(5 * time.Second)
		if f.level.Load() != true || f.calls.Load() != 3 {
			t.Errorf("after two failures: level %v in %d calls, want lit on the third", f.level.Load(), f.calls.Load())
		}
	})
}

type flaky struct {
	fails int32
	calls atomic.Int32
	level atomic.Bool
}

func (f *flaky) Out(l gpio.Level) error {
	if f.calls.Add(1) <= f.fails {
		return context.DeadlineExceeded
	}
	f.level.Store(bool(l))
	return nil
}

func TestStatusJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := New(Lights{Red: pin("R"), Green: pin("G")}, nil)
		e.SetReady(true)
		e.SetFault(FaultLANDown, true)
		b, err := json.Marshal(e.Status())
		if err != nil {
			t.Fatal(err)
		}
		want := `{"mode":"fault","look":"red steady","showing":"red","faults":"lan-down","ready":true,"updating":false,"leds":2}`
		if string(b) != want {
			t.Errorf("status JSON\n got %s\nwant %s", b, want)
		}
		if s := e.Status().String(); s != "fault (red steady), showing red, faults lan-down" {
			t.Errorf("String = %q", s)
		}
	})
}
