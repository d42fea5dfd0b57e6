package board

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sipguard/sipguard/leds"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// fakeLED makes sys/class/leds/name under root as the kernel shows it.
func fakeLED(t *testing.T, root, name, max, trigger string) string {
	t.Helper()
	dir := filepath.Join(root, "sys/class/leds", name)
	must(t, os.MkdirAll(dir, 0o755))
	for f, v := range map[string]string{"max_brightness": max + "\n", "trigger": trigger + "\n", "brightness": "0\n"} {
		must(t, os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644))
	}
	return dir
}

func readAttr(t *testing.T, dir, attr string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, attr))
	must(t, err)
	return strings.TrimSpace(string(b))
}

func TestSysfsLED(t *testing.T) {
	root := t.TempDir()
	act := fakeLED(t, root, "ACT", "255", "none rc-feedback [mmc0] timer heartbeat")
	l, err := OpenSysfsLED(root, "ACT", "led0")
	must(t, err)
	if got := readAttr(t, act, "trigger"); got != "none" {
		t.Errorf("trigger after open %q, want none: the kernel must stop driving it", got)
	}
	must(t, l.Out(gpio.High))
	if got := readAttr(t, act, "brightness"); got != "255" {
		t.Errorf("on: brightness %q, want max_brightness 255", got)
	}
	must(t, l.Out(gpio.Low))
	if got := readAttr(t, act, "brightness"); got != "0" {
		t.Errorf("off: brightness %q, want 0", got)
	}
	must(t, l.Close())
	if got := readAttr(t, act, "trigger"); got != "mmc0" {
		t.Errorf("trigger after close %q, want mmc0 back", got)
	}
}

func TestSysfsLEDNames(t *testing.T) {
	root := t.TempDir()
	led0 := fakeLED(t, root, "led0", "1", "[heartbeat] none")
	l, err := OpenSysfsLED(root, "ACT", "led0")
	must(t, err)
	if l.String() != "led0" {
		t.Errorf("opened %s, want led0 (older kernels' name)", l)
	}
	must(t, l.Out(gpio.High))
	if got := readAttr(t, led0, "brightness"); got != "1" {
		t.Errorf("brightness %q, want 1", got)
	}
	_, err = OpenSysfsLED(root, "PWR", "led1")
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "led PWR or led1: file does not exist" {
		t.Errorf("missing LED: %v", err)
	}
}

// fakeLines serves gpiotest pins by line name.
func fakeLines(names ...string) (map[string]*gpiotest.Pin, func(string) (gpio.PinIO, error)) {
	pins := map[string]*gpiotest.Pin{}
	for _, n := range names {
		pins[n] = &gpiotest.Pin{N: n, EdgesChan: make(chan gpio.Level, 1)}
	}
	return pins, func(name string) (gpio.PinIO, error) {
		if p, ok := pins[name]; ok {
			return p, nil
		}
		return nil, ErrNoLine
	}
}

func TestOpenPi4Onboard(t *testing.T) {
	root := t.TempDir()
	act := fakeLED(t, root, "ACT", "255", "[mmc0] none")
	pwr := fakeLED(t, root, "PWR", "255", "[default-on] none")
	_, lines := fakeLines("GPIO26")
	p, _ := ByName("rpi4")
	b, err := Open(p, Options{Root: root, Lines: lines})
	must(t, err)
	l := b.Lights()
	if l.Count() != 2 || l.Red == nil || l.Green == nil || b.Button() == nil {
		t.Fatalf("pi 4: %d LEDs, button %v; want ACT green, PWR red and the button", l.Count(), b.Button())
	}
	must(t, l.Show(leds.Amber))
	if readAttr(t, act, "brightness") != "255" || readAttr(t, pwr, "brightness") != "255" {
		t.Error("amber on the on-board LEDs: want ACT and PWR both lit")
	}
	must(t, b.Close())
	if readAttr(t, act, "trigger") != "mmc0" || readAttr(t, pwr, "trigger") != "default-on" {
		t.Error("Close did not give the LEDs back to their triggers")
	}
}

func TestOpenOnlyACT(t *testing.T) {
	root := t.TempDir()
	fakeLED(t, root, "ACT", "1", "[mmc0]")
	var logs bytes.Buffer
	p, _ := ByName("rpi5")
	_, lines := fakeLines() // no GPIO lines: no button either
	b, err := Open(p, Options{Root: root, Lines: lines, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	must(t, err)
	if !b.Lights().Mono() || b.Button() != nil {
		t.Errorf("ACT only: %d LEDs, button %v; want one LED, no button", b.Lights().Count(), b.Button())
	}
	if !strings.Contains(logs.String(), "no front button") || !strings.Contains(logs.String(), "no on-board LED") {
		t.Errorf("missing hardware not logged:\n%s", logs.String())
	}
}

func TestOpenExternalLEDs(t *testing.T) {
	pins, lines := fakeLines("GPIO17", "GPIO27", "GPIO22", "GPIO26")
	p, _ := ByName("rpi5")
	for _, tc := range []struct {
		wiring Wiring
		count  int
		amber  string
	}{
		{WiringRGB, 3, "GPIO17 GPIO27"},
		{WiringBiColour, 2, "GPIO17 GPIO27"},
		{WiringNone, 0, ""},
	} {
		b, err := Open(p, Options{Root: t.TempDir(), LEDs: tc.wiring, Lines: lines})
		must(t, err)
		l := b.Lights()
		if l.Count() != tc.count {
			t.Errorf("%s: %d LEDs, want %d", tc.wiring, l.Count(), tc.count)
		}
		for _, p := range pins {
			must(t, p.Out(gpio.Low))
		}
		must(t, l.Show(leds.Amber))
		var lit []string
		for _, n := range []string{"GPIO17", "GPIO27", "GPIO22"} {
			if pins[n].Read() == gpio.High {
				lit = append(lit, n)
			}
		}
		if got := strings.Join(lit, " "); got != tc.amber {
			t.Errorf("%s: amber lights %q, want %q", tc.wiring, got, tc.amber)
		}
	}
}

func TestOpenRGBWithALineMissingShowsNone(t *testing.T) {
	_, lines := fakeLines("GPIO17", "GPIO27", "GPIO26") // blue line missing
	p, _ := ByName("rpi4")
	b, err := Open(p, Options{Root: t.TempDir(), LEDs: WiringRGB, Lines: lines})
	must(t, err)
	if n := b.Lights().Count(); n != 0 {
		t.Errorf("RGB without blue: %d LEDs, want none rather than wrong colours", n)
	}
}

func TestOpenErrorsAndKinds(t *testing.T) {
	p, _ := ByName("rpi4")
	if _, err := Open(p, Options{LEDs: "disco"}); err == nil || !strings.Contains(err.Error(), `board rpi4: LEDs "disco"`) {
		t.Errorf("unknown LED set: %v", err)
	}
	sim, _ := ByName("sim")
	b, err := Open(sim, Options{})
	must(t, err)
	if _, ok := b.(*Sim); !ok || b.Profile().Name != "sim" || b.Lights().Count() != 3 {
		t.Errorf("sim profile opened %T with %d LEDs, want a *Sim with an RGB LED", b, b.Lights().Count())
	}
	q, _ := ByName("qemu-virt")
	b, err = Open(q, Options{Root: t.TempDir()})
	must(t, err)
	if b.Lights().Count() != 0 || b.Button() != nil || b.Profile().Name != "qemu-virt" {
		t.Error("qemu: want no LEDs and no button")
	}
}

// On a machine without GPIO chips (a laptop, CI), the real GPIO driver
// finds no lines: the board opens without external LEDs and button.
func TestOpenWithoutGPIOChips(t *testing.T) {
	if m, _ := filepath.Glob("/dev/gpiochip*"); len(m) > 0 {
		t.Skip("this machine has GPIO chips; not touching them")
	}
	p, _ := ByName("rpi4")
	b, err := Open(p, Options{Root: t.TempDir(), LEDs: WiringRGB})
	must(t, err)
	if b.Lights().Count() != 0 || b.Button() != nil {
		t.Errorf("without GPIO chips: %d LEDs, button %v; want none", b.Lights().Count(), b.Button())
	}
	must(t, b.Close())
}
