// Package firmware is the box's side of signed firmware: it checks that
// the running root slot and the boot files are what the publisher signed
// (the tamper check), installs update bundles into the other root slot, and
// keeps the boot state that tries a new slot once and falls back to the
// old one unless the new firmware reports healthy.
package firmware

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/filesystem"

	"github.com/sipguard/sipguard/image/manifest"
)

// Slot is a root slot partition.
type Slot struct {
	Name   string // "a" or "b"
	Device string // its partition, e.g. /dev/mmcblk0p2
}

// ReadManifest reads and verifies the signed manifest at the end of a slot
// partition (or image file).
func ReadManifest(dev string, keys []ed25519.PublicKey) (manifest.Signed, error) {
	f, err := os.Open(dev)
	if err != nil {
		return manifest.Signed{}, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return manifest.Signed{}, err
	}
	if size < manifest.TrailerSize {
		return manifest.Signed{}, fmt.Errorf("%s: %w", dev, manifest.ErrUnsigned)
	}
	b := make([]byte, manifest.TrailerSize)
	if _, err := f.ReadAt(b, size-manifest.TrailerSize); err != nil {
		return manifest.Signed{}, err
	}
	raw, sig, err := manifest.DecodeTrailer(b)
	if err != nil {
		return manifest.Signed{}, fmt.Errorf("%s: %w", dev, err)
	}
	s, err := manifest.Verify(raw, sig, keys)
	if err != nil {
		return manifest.Signed{}, fmt.Errorf("%s: %w", dev, err)
	}
	return s, nil
}

// Finding is one difference between what runs and what was signed.
type Finding struct {
	What   string `json:"what"`   // "root", or a boot file's name
	Reason string `json:"reason"` // "altered", "missing", "not signed", "unexpected file"…
}

func (f Finding) String() string { return f.What + ": " + f.Reason }

// Check compares the root slot and the boot partition with the slot's
// signed manifest. It returns the manifest and what differs; an error
// means the check could not be made (a device unreadable), which is
// reported as such and is not a finding.
func Check(slot, boot string, keys []ed25519.PublicKey) (manifest.Manifest, []Finding, error) {
	s, err := ReadManifest(slot, keys)
	switch {
	case errors.Is(err, manifest.ErrUnsigned), errors.Is(err, manifest.ErrBadSignature), errors.Is(err, manifest.ErrMalformed):
		return manifest.Manifest{}, []Finding{{What: "root", Reason: "manifest " + err.Error()}}, nil
	case err != nil:
		return manifest.Manifest{}, nil, err
	}
	m := s.Manifest
	var findings []Finding
	f, err := os.Open(slot)
	if err != nil {
		return m, nil, err
	}
	h := manifest.NewHasher()
	_, err = io.Copy(h, io.LimitReader(f, m.Root.Size))
	f.Close()
	if err != nil {
		return m, nil, fmt.Errorf("%s: %w", slot, err)
	}
	if h.Matches(m.Root) != nil {
		findings = append(findings, Finding{What: "root", Reason: "altered"})
	}
	bootFindings, err := checkBoot(boot, m.Boot)
	if err != nil {
		return m, nil, err
	}
	return m, append(findings, bootFindings...), nil
}

// checkBoot hashes the files of the FAT boot partition (read directly, not
// mounted) against want.
func checkBoot(dev string, want []manifest.File) ([]Finding, error) {
	d, err := diskfs.Open(dev, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		return nil, fmt.Errorf("boot partition: %w", err)
	}
	defer d.Close()
	fsys, err := d.GetFilesystem(0)
	if err != nil {
		return nil, fmt.Errorf("boot partition %s: %w", dev, err)
	}
	have, err := listFiles(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("boot partition %s: %w", dev, err)
	}
	var findings []Finding
	for _, w := range want {
		if !slices.Contains(have, w.Path) {
			findings = append(findings, Finding{What: w.Path, Reason: "missing"})
			continue
		}
		f, err := fsys.OpenFile("/"+w.Path, os.O_RDONLY)
		if err != nil {
			return nil, fmt.Errorf("boot partition: %s: %w", w.Path, err)
		}
		h := manifest.NewHasher()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("boot partition: %s: %w", w.Path, err)
		}
		if h.Matches(w) != nil {
			findings = append(findings, Finding{What: w.Path, Reason: "altered"})
		}
	}
	for _, p := range have {
		if !slices.ContainsFunc(want, func(w manifest.File) bool { return strings.EqualFold(w.Path, p) }) {
			findings = append(findings, Finding{What: p, Reason: "unexpected file"})
		}
	}
	return findings, nil
}

// listFiles lists the regular files under dir, relative to the root.
func listFiles(fsys filesystem.FileSystem, dir string) ([]string, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if name == "." || name == ".." {
			continue
		}
		p := path.Join(dir, name) // fs.FS style: no leading slash
		if e.IsDir() {
			sub, err := listFiles(fsys, p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// ErrSlotTooSmall means a bundle's root image does not fit the slot.
var ErrSlotTooSmall = errors.New("root image does not fit the slot")

// Install writes a bundle into slot after checking it: signed by a trusted
// key, made for board, not older than current. The bundle is verified
// before the slot is touched; the image is written, then its hash checked
// against the signed manifest, and only then the manifest's trailer is
// written, which makes the slot usable. A bundle that fails leaves the
// slot without a trailer: never started.
func Install(bundle io.Reader, slot Slot, board, current string, keys []ed25519.PublicKey) (manifest.Manifest, error) {
	s, err := install(bundle, slot, board, current, keys)
	return s.Manifest, err
}

// install is Install, returning the signed manifest.
func install(bundle io.Reader, slot Slot, board, current string, keys []ed25519.PublicKey) (manifest.Signed, error) {
	b, err := manifest.OpenBundle(bundle, keys)
	if err != nil {
		return manifest.Signed{}, err
	}
	s, m := b.Signed, b.Manifest
	if err := m.CheckUpdate(board, current); err != nil {
		return s, err
	}
	f, err := os.OpenFile(slot.Device, os.O_RDWR, 0)
	if err != nil {
		return s, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return s, err
	}
	if m.Root.Size > size-manifest.TrailerSize {
		return s, fmt.Errorf("%w: %d bytes, slot %s holds %d", ErrSlotTooSmall, m.Root.Size, slot.Name, size-manifest.TrailerSize)
	}
	trailerAt := size - manifest.TrailerSize
	// From here the slot is being rewritten: its trailer goes first, so a
	// power cut or a bad image leaves a slot that is never started.
	if _, err := f.WriteAt(make([]byte, manifest.TrailerSize), trailerAt); err != nil {
		return s, err
	}
	if err := f.Sync(); err != nil {
		return s, err
	}
	if err := b.WriteRootTo(&offsetWriter{f: f}); err != nil {
		return s, err
	}
	trailer, err := manifest.EncodeTrailer(b.Signed)
	if err != nil {
		return s, err
	}
	if err := f.Sync(); err != nil { // the image is durable before it is declared
		return s, err
	}
	if _, err := f.WriteAt(trailer, trailerAt); err != nil {
		return s, err
	}
	return s, f.Sync()
}

type offsetWriter struct {
	f   *os.File
	off int64
}

func (w *offsetWriter) Write(p []byte) (int, error) {
	n, err := w.f.WriteAt(p, w.off)
	w.off += int64(n)
	return n, err
}

// Release reads the running firmware's /etc/sipguard/release: its version
// and board.
func Release(path string) (version, board string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	for line := range bytes.Lines(b) {
		k, v, _ := strings.Cut(strings.TrimSpace(string(line)), "=")
		switch k {
		case "version":
			version = v
		case "board":
			board = v
		}
	}
	if board == "" {
		return "", "", fmt.Errorf("%s: no board", path)
	}
	return version, board, nil
}
