package manifest

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// TrailerSize is the space the signed manifest takes at the end of each
// root slot partition.
const TrailerSize = 64 << 10

var trailerMagic = []byte("SIPGUARD-MANIFEST-1\n")

// EncodeTrailer lays out s as the last TrailerSize bytes of a root slot:
// a magic line, the lengths of the manifest and of the signature, both,
// then zeros.
func EncodeTrailer(s Signed) ([]byte, error) {
	n := len(trailerMagic) + 8 + len(s.Raw) + len(s.Sig)
	if n > TrailerSize {
		return nil, fmt.Errorf("manifest of %d bytes does not fit in the slot's trailer", len(s.Raw))
	}
	b := make([]byte, TrailerSize)
	i := copy(b, trailerMagic)
	binary.BigEndian.PutUint32(b[i:], uint32(len(s.Raw)))
	binary.BigEndian.PutUint32(b[i+4:], uint32(len(s.Sig)))
	i += 8
	i += copy(b[i:], s.Raw)
	copy(b[i:], s.Sig)
	return b, nil
}

// DecodeTrailer reads what EncodeTrailer wrote: the manifest's bytes and
// its signature, unverified. A slot without a trailer is ErrUnsigned.
func DecodeTrailer(b []byte) (raw, sig []byte, err error) {
	if len(b) != TrailerSize || !bytes.HasPrefix(b, trailerMagic) {
		return nil, nil, ErrUnsigned
	}
	i := len(trailerMagic)
	nr, ns := int(binary.BigEndian.Uint32(b[i:])), int(binary.BigEndian.Uint32(b[i+4:]))
	i += 8
	if nr <= 0 || ns < 0 || i+nr+ns > len(b) {
		return nil, nil, fmt.Errorf("%w: trailer lengths %d and %d", ErrMalformed, nr, ns)
	}
	return b[i : i+nr], b[i+nr : i+nr+ns], nil
}

// The entries of an update bundle, in this order.
const (
	bundleManifest = "manifest.json"
	bundleSig      = "manifest.sig"
	bundleRoot     = "root.squashfs"
)

// maxManifest bounds the manifest entry of a bundle.
const maxManifest = TrailerSize

// WriteBundle writes an update bundle: a tar file holding the manifest,
// its signature and the root slot image, in that order, so that the box
// checks the signature before it reads the image.
func WriteBundle(w io.Writer, s Signed, root io.Reader, modTime time.Time) error {
	tw := tar.NewWriter(w)
	for _, e := range []struct {
		name string
		size int64
		r    io.Reader
	}{
		{bundleManifest, int64(len(s.Raw)), bytes.NewReader(s.Raw)},
		{bundleSig, int64(len(s.Sig)), bytes.NewReader(s.Sig)},
		{bundleRoot, s.Manifest.Root.Size, root},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: e.size, ModTime: modTime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if n, err := io.Copy(tw, e.r); err != nil {
			return err
		} else if n != e.size {
			return fmt.Errorf("bundle: %s is %d bytes, the manifest says %d", e.name, n, e.size)
		}
	}
	return tw.Close()
}

// Bundle is an update bundle being read: its manifest, verified, and its
// root image as a stream.
type Bundle struct {
	Signed
	tr *tar.Reader
}

// OpenBundle reads a bundle's manifest and signature and verifies them
// with keys; the root image is then read with WriteRootTo.
func OpenBundle(r io.Reader, keys []ed25519.PublicKey) (*Bundle, error) {
	tr := tar.NewReader(r)
	read := func(name string) ([]byte, error) {
		h, err := tr.Next()
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("bundle: truncated before %s: %w", name, io.ErrUnexpectedEOF)
		case err != nil:
			return nil, fmt.Errorf("bundle: %w: %v", ErrNotBundle, err)
		}
		if h.Name != name {
			if name == bundleSig {
				return nil, fmt.Errorf("bundle: %w (no %s after the manifest)", ErrUnsigned, bundleSig)
			}
			return nil, fmt.Errorf("bundle: %w: %q where %q was expected", ErrNotBundle, h.Name, name)
		}
		if h.Size > maxManifest {
			return nil, fmt.Errorf("bundle: %s of %d bytes is too big", name, h.Size)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("bundle: %s: %w", name, err)
		}
		return b, nil
	}
	raw, err := read(bundleManifest)
	if err != nil {
		return nil, err
	}
	sig, err := read(bundleSig)
	if err != nil {
		return nil, err
	}
	s, err := Verify(raw, sig, keys)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	return &Bundle{Signed: s, tr: tr}, nil
}

// WriteRootTo copies the bundle's root image to w and checks it against
// the manifest: size and SHA-256. On a mismatch or a truncated bundle, what
// was written to w must not be used.
func (b *Bundle) WriteRootTo(w io.Writer) error {
	h, err := b.tr.Next()
	if err != nil {
		return fmt.Errorf("bundle: truncated before the root image: %w", err)
	}
	if h.Name != bundleRoot {
		return fmt.Errorf("bundle: %q where %q was expected", h.Name, bundleRoot)
	}
	if h.Size != b.Manifest.Root.Size {
		return fmt.Errorf("bundle: %w: root image of %d bytes, the manifest says %d", ErrMismatch, h.Size, b.Manifest.Root.Size)
	}
	sum := NewHasher()
	if _, err := io.Copy(io.MultiWriter(w, sum), b.tr); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("bundle: truncated in the root image: %w", err)
		}
		return fmt.Errorf("bundle: root image: %w", err)
	}
	return sum.Matches(b.Manifest.Root)
}
