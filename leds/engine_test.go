package leds

import (
	"context"
	"encoding/json"
	"strings"
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

func expect(t *testing.T, when string, p [3]*gpiotest.Pin, want string) {
	t.Helper()
	if got := lit(p[:]...); got != want {
		t.Errorf("%s: LEDs %q, want %q", when, got, want)
	}
}

func TestEngineBootThenProtect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, p, stop := rgb(t)
		defer stop()
		expect(t, "boot", p, "- G -")
		after(1500 * ms)
		expect(t, "boot +1.5 s", p, "- - -")
		after(time.Second)
		expect(t, "boot +2.5 s", p, "- G -")
		e.SetReady(true)
		synctest.Wait()
		expect(t, "ready", p, "- G -")
		after(10 * time.Hour)
		expect(t, "ready +10 h", p, "- G -")
	})
}

func TestEngineBanBlipsThenAmberForAnHour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, p, stop := rgb(t)
		defer stop()
		e.SetReady(true)
		synctest.Wait()
		e.Ban()
		synctest.Wait()
		expect(t, "ban", p, "- - -")
		after(BlipLength)
		expect(t, "after the blip", p, "R G -")
		after(30 * time.Minute)
		e.Ban() // a second ban restarts the hour and blips again
		synctest.Wait()
		expect(t, "second ban", p, "- - -")
		after(BlipLength)
		expect(t, "after the second blip", p, "R G -")
		after(AttackHold - time.Minute)
		expect(t, "59 min after the last ban", p, "R G -")
		after(time.Minute)
		expect(t, "an hour after the last ban", p, "- G -")
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
	synctest.Test(t, func(t *testing.T) {
		e, p, stop := rgb(t)
		defer stop()
		e.SetReady(true)
		e.Ban()
		after(time.Second)
		e.SetFault(FaultWANDown, true)
		e.SetFault(FaultTamper, true)
		synctest.Wait()
		expect(t, "wan down and tamper", p, "R - -")
		e.SetFault(FaultWANDown, false)
		synctest.Wait()
		expect(t, "tamper still set", p, "R - -")
		if got := e.Status().Faults; got != FaultTamper {
			t.Errorf("faults %v, want tamper", got)
		}
		e.SetFault(FaultTamper, false)
		synctest.Wait()
		expect(t, "faults cleared, ban recent", p, "R G -")
	})
}

func TestEngineResetCountdownAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, p, stop := rgb(t)
		defer stop()
		e.SetReady(true)
		e.ArmReset(0.2)
		synctest.Wait()
		var pattern []string
		for range 4 {
			pattern = append(pattern, lit(p[:]...))
			after(125 * ms)
		}
		if got := strings.Join(pattern, "|"); got != "R - -|- - -|R - -|- - -" {
			t.Errorf("reset armed: %s, want red blinking every 125 ms", got)
		}
		if s := e.Status(); s.Mode != ResetArmed || s.ResetProgress != 0.2 {
			t.Errorf("status %+v, want reset-armed at 0.2", s)
		}
		e.CancelReset()
		synctest.Wait()
		expect(t, "cancelled", p, "- G -")
		e.ArmReset(1)
		synctest.Wait()
		expect(t, "resetting", p, "R - -")
		after(time.Second)
		expect(t, "resetting +1 s", p, "R - -")
	})
}

func TestEngineUpdatingIsBlueOnRGB(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, p, stop := rgb(t)
		defer stop()
		e.SetUpdating(true)
		e.SetFault(FaultService, true)
		synctest.Wait()
		expect(t, "updating", p, "- - B")
		after(750 * ms)
		expect(t, "updating +0.75 s", p, "- - -")
		e.SetUpdating(false)
		synctest.Wait()
		expect(t, "update done, service restarting", p, "R - -")
	})
}

func TestEngineStatusBlink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, p, stop := rgb(t)
		defer stop()
		e.SetReady(true)
		e.StatusBlink()
		synctest.Wait()
		expect(t, "lamp test", p, "R - -")
		after(450 * ms)
		expect(t, "lamp test +0.45 s", p, "R G -")
		after(StatusBlinkLength)
		expect(t, "after the lamp test", p, "- G -")
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
