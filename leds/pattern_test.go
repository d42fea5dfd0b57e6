package leds

import (
	"testing"
	"time"
)

const ms = time.Millisecond

func TestPatternAt(t *testing.T) {
	p := blink(Red, 100*ms, 300*ms)
	for _, tc := range []struct {
		d     time.Duration
		c     Colour
		left  time.Duration
		label string
	}{
		{0, Red, 100 * ms, "start"},
		{99 * ms, Red, 1 * ms, "end of on"},
		{100 * ms, Off, 300 * ms, "start of off"},
		{399 * ms, Off, 1 * ms, "end of off"},
		{400 * ms, Red, 100 * ms, "second period"},
		{4*time.Second + 150*ms, Off, 250 * ms, "later period"},
		{-time.Second, Red, 100 * ms, "before start"},
	} {
		c, left := p.At(tc.d)
		if c != tc.c || left != tc.left {
			t.Errorf("%s: At(%v) = %v, %v; want %v, %v", tc.label, tc.d, c, left, tc.c, tc.left)
		}
	}
	if c, left := steady(Amber).At(time.Hour); c != Amber || left != 0 {
		t.Errorf("steady amber at 1h = %v, %v; want amber for ever", c, left)
	}
	if c, left := (Pattern{}).At(0); c != Off || left != 0 {
		t.Errorf("empty pattern = %v, %v; want off for ever", c, left)
	}
}

func TestPatternString(t *testing.T) {
	for p, want := range map[string]string{
		steady(Green).String():                   "green steady",
		blink(Red, 125*ms, 125*ms).String():      "red 125ms/off 125ms",
		Pattern{}.String():                       "off",
		LookOf(StatusBlink).Colour.String():      "red 300ms/amber 300ms/green 300ms/off 300ms",
		LookOf(Mode(200)).Colour.String():        "off",
		blink(Blue, time.Second, ms).String():    "blue 1s/off 1ms",
		(Pattern{{Amber, 0}, {Off, 0}}).String(): "amber 0s/off 0s",
	} {
		if p != want {
			t.Errorf("got %q, want %q", p, want)
		}
	}
}

// On one LED every mode the box can stay in must look different.
func TestMonoLooksDiffer(t *testing.T) {
	modes := []Mode{Protecting, Attack, Booting, Faulted, Updating, ResetArmed}
	for i, a := range modes {
		for _, b := range modes[i+1:] {
			if LookOf(a).Mono.String() == LookOf(b).Mono.String() {
				t.Errorf("%v and %v look the same on one LED: %v", a, b, LookOf(a).Mono)
			}
		}
	}
	for m := Protecting; m <= Resetting; m++ {
		if len(LookOf(m).Colour) == 0 || len(LookOf(m).Mono) == 0 {
			t.Errorf("mode %v has no look", m)
		}
	}
}
