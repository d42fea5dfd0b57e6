// Package knownboxes keeps the certificate fingerprints of the boxes a
// user's command line has talked to over HTTPS: the file known_boxes in
// the user's configuration folder, one line per box,
//
//	sipguard.local:443 AA:BB:…:FF
//
// host:port, then the SHA-256 fingerprint of the box's certificate. Lines
// starting with # and blank lines are skipped. The file is replaced
// atomically and is readable by its owner only (0600).
//
// A line that cannot be read is reported with its line number and kept as
// it is when the file is written again; the other boxes still work. A box
// whose own line is unreadable is refused rather than pinned again: its
// pin may have been damaged, and a new one would hide that.
package knownboxes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/atomicfile"
)

// DefaultPath is the user's known_boxes: in the configuration folder
// (~/.config/sipguard on Linux, ~/Library/Application Support/sipguard on
// macOS, %AppData%\sipguard on Windows).
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("known boxes: %w", err)
	}
	return filepath.Join(dir, "sipguard", "known_boxes"), nil
}

// Box is a known box.
type Box struct {
	Addr        string // host:port
	Fingerprint string
}

// LineError is a line of the file that cannot be read.
type LineError struct {
	Path string
	Line int
	Addr string // its first field, if any
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// File is a known_boxes file. It implements [api.Pins].
type File struct {
	Path string
	// Warn, if not nil, receives the file's unreadable lines, once.
	Warn io.Writer

	warned sync.Once
}

var _ api.Pins = (*File)(nil)

// line is one line of the file, as read.
type line struct {
	text string
	box  *Box       // nil for a comment, a blank line or a bad line
	bad  *LineError // set for a bad line
}

// read reads the file's lines; a missing file has none.
func (f *File) read() ([]line, error) {
	data, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("known boxes: %w", err)
	}
	var lines []line
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimRight(sc.Text(), "\r")
		l := line{text: text}
		fields := strings.Fields(text)
		switch {
		case len(fields) == 0 || strings.HasPrefix(fields[0], "#"):
		default:
			b, err := parseLine(fields)
			if err != nil {
				l.bad = &LineError{Path: f.Path, Line: n, Addr: fields[0], Err: err}
			} else {
				l.box = &b
			}
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("known boxes: %s: %w", f.Path, err)
	}
	f.warned.Do(func() {
		if f.Warn == nil {
			return
		}
		for _, l := range lines {
			if l.bad != nil {
				fmt.Fprintf(f.Warn, "sipguard: %v: line skipped\n", l.bad)
			}
		}
	})
	return lines, nil
}

// parseLine reads a line's fields: host:port and fingerprint.
func parseLine(fields []string) (Box, error) {
	if len(fields) != 2 {
		return Box{}, fmt.Errorf("%d fields, want HOST:PORT FINGERPRINT", len(fields))
	}
	addr, err := api.ParseBox(fields[0])
	if err != nil {
		return Box{}, err
	}
	fp, err := api.ParseFingerprint(fields[1])
	if err != nil {
		return Box{}, err
	}
	return Box{Addr: addr, Fingerprint: fp}, nil
}

// List returns the known boxes in the file's order, and the lines that
// cannot be read.
func (f *File) List() ([]Box, []*LineError, error) {
	lines, err := f.read()
	if err != nil {
		return nil, nil, err
	}
	var boxes []Box
	var bad []*LineError
	for _, l := range lines {
		switch {
		case l.box != nil:
			boxes = append(boxes, *l.box)
		case l.bad != nil:
			bad = append(bad, l.bad)
		}
	}
	return boxes, bad, nil
}

// Pin returns the fingerprint pinned for the box at addr (host:port), ""
// if none. A box whose line cannot be read is an error.
func (f *File) Pin(addr string) (string, error) {
	lines, err := f.read()
	if err != nil {
		return "", err
	}
	fp := ""
	for _, l := range lines {
		switch {
		case l.box != nil && l.box.Addr == addr:
			fp = l.box.Fingerprint
		case l.bad != nil && sameAddr(l.bad.Addr, addr):
			return "", fmt.Errorf("its pin is unreadable (%w): correct the line, or forget the box (sipguard box forget %s) and pin it again", l.bad, api.BoxName(addr))
		}
	}
	return fp, nil
}

// sameAddr reports whether a bad line's first field names addr.
func sameAddr(field, addr string) bool {
	a, err := api.ParseBox(field)
	return err == nil && a == addr || field == addr
}

// SetPin pins fp for the box at addr, replacing its line or adding one.
func (f *File) SetPin(addr, fp string) error {
	lines, err := f.read()
	if err != nil {
		return err
	}
	entry := addr + " " + fp
	replaced := false
	var out []string
	for _, l := range lines {
		if l.box != nil && l.box.Addr == addr {
			if !replaced {
				out = append(out, entry)
			}
			replaced = true
			continue
		}
		out = append(out, l.text)
	}
	if !replaced {
		if len(lines) == 0 {
			out = append(out, header)
		}
		out = append(out, entry)
	}
	return f.write(out)
}

// header heads a new file.
const header = "# sipguard's known boxes: HOST:PORT and the SHA-256 fingerprint of the box's HTTPS certificate"

// Forget removes the box at addr, and any unreadable line naming it. It
// reports whether there was one.
func (f *File) Forget(addr string) (bool, error) {
	lines, err := f.read()
	if err != nil {
		return false, err
	}
	found := false
	var out []string
	for _, l := range lines {
		if l.box != nil && l.box.Addr == addr || l.bad != nil && sameAddr(l.bad.Addr, addr) {
			found = true
			continue
		}
		out = append(out, l.text)
	}
	if !found {
		return false, nil
	}
	return true, f.write(out)
}

// write replaces the file with lines, readable by its owner only.
func (f *File) write(lines []string) error {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return fmt.Errorf("known boxes: %w", err)
	}
	data := strings.Join(lines, "\n")
	if data != "" {
		data += "\n"
	}
	if err := atomicfile.WriteFileMode(f.Path, []byte(data), 0o600); err != nil {
		return fmt.Errorf("known boxes: %w", err)
	}
	return nil
}
