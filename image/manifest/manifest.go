// Package manifest signs and checks the firmware the box runs. A manifest
// names a firmware's version and board and the size and SHA-256 of its root
// slot image and boot files; an ed25519 signature vouches for it. The same
// signed manifest travels in three places: at the end of each root slot
// partition (the trailer), inside update bundles, and in the image build's
// output, so the box can verify an update before it writes a byte, and
// check at boot and daily that what it runs is what was signed.
package manifest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// Format is the manifest format this package writes and reads.
const Format = 1

// File is one file a manifest vouches for.
type File struct {
	Path   string `json:"path,omitempty"` // boot files: the name on the boot partition
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest describes one firmware build.
type Manifest struct {
	Format  int       `json:"format"`
	Version string    `json:"version"` // semantic version, such as v1.4.2 or v0.0.212+9e76a66
	Board   string    `json:"board"`
	Created time.Time `json:"created"`
	Root    File      `json:"root"` // the root slot image (squashfs)
	Boot    []File    `json:"boot"`
}

// Errors of verification. Each names a reason a bundle or slot is refused.
var (
	ErrUnsigned     = errors.New("not signed")
	ErrBadSignature = errors.New("signature does not match any trusted key: not made by this firmware's publisher, or altered")
	ErrNoKeys       = errors.New("this firmware trusts no signing key")
	ErrMalformed    = errors.New("malformed manifest")
	ErrWrongBoard   = errors.New("made for another board")
	ErrDowngrade    = errors.New("older than the running firmware")
	ErrMismatch     = errors.New("content does not match the manifest")
	ErrNotBundle    = errors.New("not an update bundle")
)

// Signed is a manifest with its exact bytes and their signature.
type Signed struct {
	Manifest Manifest
	Raw      []byte // the manifest as signed (JSON)
	Sig      []byte // ed25519 signature of Raw
}

// Validate checks that m is complete and well formed.
func (m Manifest) Validate() error {
	var errs []string
	if m.Format != Format {
		errs = append(errs, fmt.Sprintf("format %d, want %d", m.Format, Format))
	}
	if !semver.IsValid(m.Version) {
		errs = append(errs, fmt.Sprintf("version %q is not a semantic version such as v1.2.3", m.Version))
	}
	if m.Board == "" {
		errs = append(errs, "no board")
	}
	check := func(what string, f File) {
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Sprintf("%s: sha256 %q is not a SHA-256 in hex", what, f.SHA256))
		}
		if f.Size < 0 {
			errs = append(errs, fmt.Sprintf("%s: size %d", what, f.Size))
		}
	}
	check("root", m.Root)
	if m.Root.Size == 0 {
		errs = append(errs, "root: empty")
	}
	for _, f := range m.Boot {
		if f.Path == "" || strings.Contains(f.Path, "..") {
			errs = append(errs, fmt.Sprintf("boot file %q: bad name", f.Path))
		}
		check("boot file "+f.Path, f)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrMalformed, strings.Join(errs, "; "))
	}
	return nil
}

// Sign signs m with key.
func Sign(m Manifest, key ed25519.PrivateKey) (Signed, error) {
	if err := m.Validate(); err != nil {
		return Signed{}, err
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Signed{}, err
	}
	return Signed{Manifest: m, Raw: raw, Sig: ed25519.Sign(key, raw)}, nil
}

// Verify checks sig over raw with the trusted keys, then decodes and
// validates the manifest.
func Verify(raw, sig []byte, keys []ed25519.PublicKey) (Signed, error) {
	if len(keys) == 0 {
		return Signed{}, ErrNoKeys
	}
	if len(sig) == 0 {
		return Signed{}, ErrUnsigned
	}
	trusted := false
	for _, k := range keys {
		if len(sig) == ed25519.SignatureSize && ed25519.Verify(k, raw, sig) {
			trusted = true
			break
		}
	}
	if !trusted {
		return Signed{}, ErrBadSignature
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Signed{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := m.Validate(); err != nil {
		return Signed{}, err
	}
	return Signed{Manifest: m, Raw: raw, Sig: sig}, nil
}

// CheckUpdate reports whether m may replace the firmware version current
// on board: the same board, and not older.
func (m Manifest) CheckUpdate(board, current string) error {
	if m.Board != board {
		return fmt.Errorf("%w: %s, this box is %s", ErrWrongBoard, m.Board, board)
	}
	if semver.IsValid(current) && semver.Compare(m.Version, current) < 0 {
		return fmt.Errorf("%w: %s, this box runs %s", ErrDowngrade, m.Version, current)
	}
	return nil
}

// Hasher measures a stream as it passes: size and SHA-256.
type Hasher struct {
	h    [32]byte
	sum  hashWriter
	size int64
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

// NewHasher returns a Hasher.
func NewHasher() *Hasher { return &Hasher{sum: sha256.New()} }

// Write implements io.Writer.
func (h *Hasher) Write(p []byte) (int, error) {
	h.size += int64(len(p))
	return h.sum.Write(p)
}

// File returns what was written, as a manifest's File named path.
func (h *Hasher) File(path string) File {
	return File{Path: path, Size: h.size, SHA256: hex.EncodeToString(h.sum.Sum(h.h[:0]))}
}

// Matches checks that what was written is want.
func (h *Hasher) Matches(want File) error {
	got := h.File(want.Path)
	if got.Size != want.Size || got.SHA256 != want.SHA256 {
		what := want.Path
		if what == "" {
			what = "root image"
		}
		return fmt.Errorf("%w: %s is %d bytes with SHA-256 %.16s…, the manifest says %d bytes, %.16s…", ErrMismatch, what, got.Size, got.SHA256, want.Size, want.SHA256)
	}
	return nil
}

// HashFile measures r.
func HashFile(path string, r io.Reader) (File, error) {
	h := NewHasher()
	if _, err := io.Copy(h, r); err != nil {
		return File{}, err
	}
	return h.File(path), nil
}

// ParsePrivateKey reads an ed25519 private key in PEM (PKCS #8, as
// `openssl genpkey -algorithm ed25519` writes it).
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("signing key: want a PEM \"PRIVATE KEY\" block (openssl genpkey -algorithm ed25519)")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key: %T, want ed25519", k)
	}
	return ek, nil
}

// MarshalPrivateKey writes key as ParsePrivateKey reads it.
func MarshalPrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncodePublicKey is the text form of a public key baked into firmware:
// base64 of its 32 bytes.
func EncodePublicKey(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

// ParsePublicKeys reads a comma-separated list of EncodePublicKey texts.
func ParsePublicKeys(s string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(part)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("public key %q: want base64 of 32 bytes", part)
		}
		keys = append(keys, ed25519.PublicKey(b))
	}
	return keys, nil
}

// trustedKeys holds the public keys the firmware trusts, set when it is
// built (make image bakes in its signing key's):
// -ldflags "-X github.com/sipguard/sipguard/image/manifest.trustedKeys=BASE64[,BASE64…]".
var trustedKeys string

// Trusted returns the keys this firmware trusts: none in a build made
// without make image, which then takes no update and checks nothing.
func Trusted() ([]ed25519.PublicKey, error) { return ParsePublicKeys(trustedKeys) }
