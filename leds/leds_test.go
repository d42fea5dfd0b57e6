package leds

import (
	"errors"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func pin(name string) *gpiotest.Pin { return &gpiotest.Pin{N: name} }

// lit shows which of the pins are high, such as "R G" for amber on an RGB
// LED; "-" stands for a dark LED.
func lit(pins ...*gpiotest.Pin) string {
	s := ""
	for i, p := range pins {
		if i > 0 {
			s += " "
		}
		if p.Read() == gpio.High {
			s += p.N
		} else {
			s += "-"
		}
	}
	return s
}

func TestLightsMapping(t *testing.T) {
	r, g, b, a := pin("R"), pin("G"), pin("B"), pin("A")
	for _, tc := range []struct {
		name   string
		lights Lights
		pins   []*gpiotest.Pin
		want   map[Colour]string
	}{
		{"one LED (ACT only)", Lights{Green: g}, []*gpiotest.Pin{g}, map[Colour]string{
			Off: "-", Green: "G", Amber: "G", Red: "G", Blue: "G",
		}},
		{"one red LED", Lights{Red: r}, []*gpiotest.Pin{r}, map[Colour]string{
			Off: "-", Green: "R", Red: "R",
		}},
		{"two LEDs (PWR+ACT or bi-colour)", Lights{Red: r, Green: g}, []*gpiotest.Pin{r, g}, map[Colour]string{
			Off: "- -", Green: "- G", Amber: "R G", Red: "R -", Blue: "R G",
		}},
		{"RGB LED", Lights{Red: r, Green: g, Blue: b}, []*gpiotest.Pin{r, g, b}, map[Colour]string{
			Off: "- - -", Green: "- G -", Amber: "R G -", Red: "R - -", Blue: "- - B",
		}},
		{"red, amber, green LEDs", Lights{Red: r, Green: g, Amber: a}, []*gpiotest.Pin{r, g, a}, map[Colour]string{
			Off: "- - -", Green: "- G -", Amber: "- - A", Red: "R - -", Blue: "- - A",
		}},
	} {
		if err := tc.lights.Check(); err != nil {
			t.Fatalf("%s: Check: %v", tc.name, err)
		}
		for c, want := range tc.want {
			if err := tc.lights.Show(c); err != nil {
				t.Fatalf("%s: Show(%v): %v", tc.name, c, err)
			}
			if got := lit(tc.pins...); got != want {
				t.Errorf("%s: %v lights %q, want %q", tc.name, c, got, want)
			}
		}
	}
}

func TestLightsCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lights Lights
		ok     bool
		count  int
	}{
		{"none", Lights{}, true, 0},
		{"blue alone", Lights{Blue: pin("B")}, true, 1},
		{"green and blue", Lights{Green: pin("G"), Blue: pin("B")}, false, 2},
		{"red and amber", Lights{Red: pin("R"), Amber: pin("A")}, false, 2},
		{"all four", Lights{Red: pin("R"), Green: pin("G"), Blue: pin("B"), Amber: pin("A")}, true, 4},
	} {
		err := tc.lights.Check()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrLayout)) {
			t.Errorf("%s: Check = %v, want ok %t", tc.name, err, tc.ok)
		}
		if n := tc.lights.Count(); n != tc.count {
			t.Errorf("%s: Count = %d, want %d", tc.name, n, tc.count)
		}
		if _, err := New(tc.lights, nil); (err == nil) != tc.ok {
			t.Errorf("%s: New = %v, want ok %t", tc.name, err, tc.ok)
		}
	}
}

type brokenLight struct{}

func (brokenLight) Out(gpio.Level) error { return errors.New("EIO") }

func TestLightsShowDrivesTheRestWhenOneFails(t *testing.T) {
	g := pin("G")
	err := Lights{Red: brokenLight{}, Green: g}.Show(Amber)
	if err == nil || err.Error() != "red led: EIO" {
		t.Errorf("Show = %v, want the red LED's error", err)
	}
	if g.Read() != gpio.High {
		t.Error("green LED not driven after the red one failed")
	}
}
