package knownboxes

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

var (
	fpA = api.Fingerprint([]byte("box a"))
	fpB = api.Fingerprint([]byte("box b"))
)

// Pins are written to a new file, in a new folder, readable by the owner
// only, and read back.
func TestPinWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sipguard", "known_boxes")
	f := &File{Path: path}
	if fp, err := f.Pin("sipguard.local:443"); err != nil || fp != "" {
		t.Fatalf("no file: %q %v", fp, err)
	}
	if err := f.SetPin("sipguard.local:443", fpA); err != nil {
		t.Fatal(err)
	}
	if err := f.SetPin("[2001:db8::2]:8443", fpB); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		for _, p := range []string{path, filepath.Dir(path)} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			want := os.FileMode(0o600)
			if fi.IsDir() {
				want = 0o700
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
			}
		}
	}
	f = &File{Path: path}
	for addr, want := range map[string]string{"sipguard.local:443": fpA, "[2001:db8::2]:8443": fpB, "sipguard.local:8443": ""} {
		if fp, err := f.Pin(addr); err != nil || fp != want {
			t.Errorf("Pin(%s) = %q, %v; want %q", addr, fp, err, want)
		}
	}
	// Pinning again replaces the line.
	if err := f.SetPin("sipguard.local:443", fpB); err != nil {
		t.Fatal(err)
	}
	boxes, bad, err := f.List()
	if err != nil || len(bad) != 0 {
		t.Fatal(err, bad)
	}
	want := []Box{{"sipguard.local:443", fpB}, {"[2001:db8::2]:8443", fpB}}
	if len(boxes) != 2 || boxes[0] != want[0] || boxes[1] != want[1] {
		t.Errorf("List = %v, want %v", boxes, want)
	}
	if found, err := f.Forget("sipguard.local:443"); !found || err != nil {
		t.Errorf("Forget: %v %v", found, err)
	}
	if found, err := f.Forget("sipguard.local:443"); found || err != nil {
		t.Errorf("Forget again: %v %v", found, err)
	}
	if fp, _ := f.Pin("sipguard.local:443"); fp != "" {
		t.Errorf("forgotten box still pinned: %s", fp)
	}
}

// A bad line is reported once with its line number and kept as it is; the
// other boxes work, and the box it names is refused until it is mended or
// forgotten.
func TestBadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_boxes")
	text := "# my boxes\n" +
		"office.example:443 " + fpA + "\n" +
		"\n" +
		"shop.example:443 not-a-fingerprint\n" +
		"lonely-field\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var warn bytes.Buffer
	f := &File{Path: path, Warn: &warn}
	if fp, err := f.Pin("office.example:443"); err != nil || fp != fpA {
		t.Fatalf("a good line beside bad ones: %q %v", fp, err)
	}
	for _, want := range []string{path + ":4: fingerprint \"not-a-fingerprint\"", path + ":5: 1 fields"} {
		if !strings.Contains(warn.String(), want) {
			t.Errorf("warning lacks %q:\n%s", want, warn.String())
		}
	}
	_, err := f.Pin("shop.example:443")
	var le *LineError
	if !errors.As(err, &le) || le.Line != 4 || !strings.Contains(err.Error(), "sipguard box forget shop.example") {
		t.Errorf("the box of a bad line: %v", err)
	}
	if err := f.SetPin("new.example:443", fpB); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(warn.String(), "line skipped"); n != 2 {
		t.Errorf("%d warnings, want 2 (once per file):\n%s", n, warn.String())
	}
	data, _ := os.ReadFile(path)
	if string(data) != text+"new.example:443 "+fpB+"\n" {
		t.Errorf("the file after a pin:\n%s", data)
	}
	if found, err := f.Forget("shop.example:443"); !found || err != nil {
		t.Errorf("forget the bad line's box: %v %v", found, err)
	}
	if _, err := f.Pin("shop.example:443"); err != nil {
		t.Errorf("after forget: %v", err)
	}
}
