package leds

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestModePriority(t *testing.T) {
	ban := t0.Add(-time.Minute)
	for _, tc := range []struct {
		name string
		s    State
		want Mode
	}{
		{"zero state boots", State{}, Booting},
		{"ready", State{Ready: true}, Protecting},
		{"ban a minute ago", State{Ready: true, LastBan: ban}, Attack},
		{"ban just under an hour ago", State{Ready: true, LastBan: t0.Add(-AttackHold + time.Second)}, Attack},
		{"ban an hour ago", State{Ready: true, LastBan: t0.Add(-AttackHold)}, Protecting},
		{"booting beats attack", State{LastBan: ban}, Booting},
		{"fault beats booting", State{Faults: FaultLANDown}, Faulted},
		{"fault beats attack", State{Ready: true, LastBan: ban, Faults: FaultTamper}, Faulted},
		{"updating beats fault", State{Ready: true, Faults: FaultService, Updating: true}, Updating},
		{"status blink beats updating", State{Updating: true, StatusUntil: t0.Add(time.Second)}, StatusBlink},
		{"status blink over", State{Ready: true, StatusUntil: t0}, Protecting},
		{"reset armed beats all but resetting", State{Faults: FaultStore, Updating: true, StatusUntil: t0.Add(time.Second), ResetProgress: 0.5}, ResetArmed},
		{"resetting", State{Faults: FaultStore, ResetProgress: 1}, Resetting},
		{"no address", State{Ready: true, Faults: FaultNoAddress}, NoAddress},
		{"attack beats no address", State{Ready: true, LastBan: ban, Faults: FaultNoAddress}, Attack},
		{"booting beats no address", State{Faults: FaultNoAddress}, Booting},
		{"a fault beats no address", State{Ready: true, Faults: FaultNoAddress | FaultWANDown}, Faulted},
		{"no address over, protecting", State{Ready: true, LastBan: t0.Add(-AttackHold), Faults: FaultNoAddress}, NoAddress},
	} {
		if got := tc.s.Mode(t0); got != tc.want {
			t.Errorf("%s: Mode = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestShowBlinkFromModeStart(t *testing.T) {
	s := State{} // booting: 1 s green, 1 s off
	since := t0
	for _, tc := range []struct {
		at   time.Duration
		c    Colour
		next time.Duration
	}{
		{0, Green, time.Second},
		{999 * ms, Green, time.Second},
		{time.Second, Off, 2 * time.Second},
		{2500 * ms, Green, 3 * time.Second},
	} {
		c, next := Show(s, since, t0.Add(tc.at), false)
		if c != tc.c || !next.Equal(t0.Add(tc.next)) {
			t.Errorf("booting at %v: %v until %v; want %v until %v", tc.at, c, next.Sub(t0), tc.c, tc.next)
		}
	}
}

func TestShowSteadyHasNoWakeUp(t *testing.T) {
	c, next := Show(State{Ready: true}, t0, t0.Add(time.Hour), false)
	if c != Green || !next.IsZero() {
		t.Errorf("protecting = %v until %v; want green with no wake-up", c, next)
	}
	c, next = Show(State{Ready: true, Faults: FaultWANDown}, t0, t0, false)
	if c != Red || !next.IsZero() {
		t.Errorf("fault = %v until %v; want red with no wake-up", c, next)
	}
}

func TestShowBanBlipThenAmberForAnHour(t *testing.T) {
	s := State{Ready: true, LastBan: t0, BlipAt: t0}
	for _, tc := range []struct {
		at   time.Duration
		c    Colour
		next time.Duration
	}{
		{0, Off, BlipLength},
		{BlipLength - ms, Off, BlipLength},
		{BlipLength, Amber, AttackHold},
		{30 * time.Minute, Amber, AttackHold},
		{AttackHold, Green, 0},
	} {
		c, next := Show(s, t0, t0.Add(tc.at), false)
		want := time.Time{}
		if tc.next != 0 {
			want = t0.Add(tc.next)
		}
		if c != tc.c || !next.Equal(want) {
			t.Errorf("ban +%v: %v until %v; want %v until %v", tc.at, c, next, tc.c, want)
		}
	}
}

func TestShowMonoAttackWinksAndBlips(t *testing.T) {
	s := State{Ready: true, LastBan: t0, BlipAt: t0}
	if c, _ := Show(s, t0, t0.Add(50*ms), true); c != Off {
		t.Errorf("mono blip: lit %v, want off", c)
	}
	if c, _ := Show(s, t0, t0.Add(time.Second), true); c == Off {
		t.Error("mono attack at 1 s: off, want lit")
	}
	if c, next := Show(s, t0, t0.Add(1900*ms), true); c != Off || !next.Equal(t0.Add(2*time.Second)) {
		t.Errorf("mono attack at 1.9 s: %v until %v, want the 200 ms wink off until 2 s", c, next)
	}
}

func TestShowStatusBlinkLampTestThenBack(t *testing.T) {
	s := State{Ready: true, StatusUntil: t0.Add(StatusBlinkLength)}
	var seen []Colour
	for at := time.Duration(0); at < StatusBlinkLength; at += 300 * ms {
		c, _ := Show(s, t0, t0.Add(at), false)
		seen = append(seen, c)
	}
	want := []Colour{Red, Amber, Green, Off, Red, Amber, Green, Off}
	if len(seen) != len(want) {
		t.Fatalf("lamp test %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("lamp test %v, want %v", seen, want)
		}
	}
	if c, next := Show(s, t0, t0.Add(StatusBlinkLength), false); c != Green || !next.IsZero() {
		t.Errorf("after the lamp test: %v until %v, want steady green", c, next)
	}
	// The end of the lamp test wakes the engine even mid-step.
	if _, next := Show(s, t0, t0.Add(StatusBlinkLength-10*ms), false); !next.Equal(t0.Add(StatusBlinkLength)) {
		t.Errorf("last step ends at %v, want the lamp test's end", next.Sub(t0))
	}
}

func TestFaultString(t *testing.T) {
	for f, want := range map[Fault]string{
		0:                           "none",
		FaultWANDown:                "wan-down",
		FaultLANDown | FaultTamper:  "lan-down,tamper",
		FaultService | FaultStore:   "service,store",
		FaultWANDown | Fault(1<<9):  "wan-down,0x200",
		FaultNoAddress:              "no-address",
		FaultCapture | FaultKernel:  "kernel,capture",
		FaultStateLost | FaultStore: "store,state-lost",
	} {
		if got := f.String(); got != want {
			t.Errorf("Fault(%#x) = %q, want %q", uint16(f), got, want)
		}
	}
	if Mode(99).String() != "mode(99)" || Colour(9).String() != "colour(9)" {
		t.Error("unknown mode or colour not named by number")
	}
}

func TestTextRoundTrip(t *testing.T) {
	for _, f := range []Fault{0, FaultWANDown, FaultWANDown | FaultStore | FaultTamper} {
		b, _ := f.MarshalText()
		var back Fault
		if err := back.UnmarshalText(b); err != nil || back != f {
			t.Errorf("fault %v → %s → %v, %v", f, b, back, err)
		}
	}
	for m := Protecting; m <= Resetting; m++ {
		b, _ := m.MarshalText()
		var back Mode
		if err := back.UnmarshalText(b); err != nil || back != m {
			t.Errorf("mode %v → %s → %v, %v", m, b, back, err)
		}
	}
	for c := Off; c <= Blue; c++ {
		b, _ := c.MarshalText()
		var back Colour
		if err := back.UnmarshalText(b); err != nil || back != c {
			t.Errorf("colour %v → %s → %v, %v", c, b, back, err)
		}
	}
	var f Fault
	if err := f.UnmarshalText([]byte("wan-down,meltdown")); err == nil {
		t.Error("unknown fault accepted")
	}
}

// The no-address look is the protecting green with a short blip, so that
// "protecting, but not reachable" reads as neither a fault nor an attack.
func TestNoAddressLook(t *testing.T) {
	s := State{Ready: true, Faults: FaultNoAddress}
	for _, tc := range []struct {
		at   time.Duration
		mono bool
		c    Colour
	}{
		{0, false, Green}, {1799 * ms, false, Green}, {1800 * ms, false, Red}, {2 * time.Second, false, Green},
		{0, true, Green}, {1400 * ms, true, Off}, {1600 * ms, true, Green}, {1800 * ms, true, Off},
	} {
		if c, _ := Show(s, t0, t0.Add(tc.at), tc.mono); c != tc.c {
			t.Errorf("no address at %v (mono %v): %v, want %v", tc.at, tc.mono, c, tc.c)
		}
	}
	var m Mode
	if err := m.UnmarshalText([]byte("no-address")); err != nil || m != NoAddress {
		t.Errorf("mode no-address decoded as %v, %v", m, err)
	}
}
