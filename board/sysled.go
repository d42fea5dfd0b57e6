package board

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"periph.io/x/conn/v3/gpio"
)

// SysfsLED is an LED under /sys/class/leds, such as the Pi's ACT. Opening
// it sets its trigger to "none" so the kernel stops driving it; Close
// gives it back its trigger.
type SysfsLED struct {
	dir     string
	on      []byte // max_brightness
	trigger string // the trigger before Open ("" if unknown)
}

// OpenSysfsLED opens the first of names present under root's
// sys/class/leds. An error wrapping fs.ErrNotExist means none is.
func OpenSysfsLED(root string, names ...string) (*SysfsLED, error) {
	for _, name := range names {
		dir := filepath.Join(root, "sys/class/leds", name)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		l, err := openSysfsLED(dir)
		if err != nil {
			return nil, fmt.Errorf("led %s: %w", name, err)
		}
		return l, nil
	}
	return nil, fmt.Errorf("led %s: %w", strings.Join(names, " or "), fs.ErrNotExist)
}

func openSysfsLED(dir string) (*SysfsLED, error) {
	max, err := os.ReadFile(filepath.Join(dir, "max_brightness"))
	if err != nil {
		return nil, err
	}
	l := &SysfsLED{dir: dir, on: bytes.TrimSpace(max)}
	if len(l.on) == 0 || string(l.on) == "0" {
		l.on = []byte("1")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "trigger")); err == nil {
		l.trigger = activeTrigger(string(b))
	}
	if err := l.write("trigger", []byte("none")); err != nil {
		return nil, err
	}
	return l, nil
}

// activeTrigger returns the trigger in brackets in a trigger file:
// "none [mmc0] timer" is "mmc0".
func activeTrigger(s string) string {
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") {
			return strings.Trim(f, "[]")
		}
	}
	return ""
}

func (l *SysfsLED) write(attr string, b []byte) error {
	f, err := os.OpenFile(filepath.Join(l.dir, attr), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// String returns the LED's name.
func (l *SysfsLED) String() string { return filepath.Base(l.dir) }

// Out turns the LED on (full brightness) or off.
func (l *SysfsLED) Out(level gpio.Level) error {
	b := []byte("0")
	if level {
		b = l.on
	}
	if err := l.write("brightness", b); err != nil {
		return fmt.Errorf("led %s: %w", l, err)
	}
	return nil
}

// Close gives the LED back to the trigger it had before Open.
func (l *SysfsLED) Close() error {
	if l.trigger == "" || l.trigger == "none" {
		return nil
	}
	if err := l.write("trigger", []byte(l.trigger)); err != nil {
		return fmt.Errorf("led %s: restore trigger %s: %w", l, l.trigger, err)
	}
	return nil
}
