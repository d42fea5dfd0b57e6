package manifest

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

var rootImage = bytes.Repeat([]byte("squashfs root image "), 5000)

func testManifest(t *testing.T, version string) Manifest {
	t.Helper()
	root, err := HashFile("", bytes.NewReader(rootImage))
	if err != nil {
		t.Fatal(err)
	}
	boot, _ := HashFile("vmlinuz", strings.NewReader("kernel"))
	return Manifest{Format: Format, Version: version, Board: "rpi4", Created: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Root: root, Boot: []File{boot}}
}

func TestSignVerify(t *testing.T) {
	pub, priv := newKey(t)
	other, _ := newKey(t)
	s, err := Sign(testManifest(t, "v1.2.0"), priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(s.Raw, s.Sig, []ed25519.PublicKey{other, pub})
	if err != nil || got.Manifest.Version != "v1.2.0" || got.Manifest.Root != s.Manifest.Root {
		t.Fatalf("Verify = %+v, %v", got.Manifest, err)
	}
	altered := bytes.Replace(s.Raw, []byte("v1.2.0"), []byte("v9.2.0"), 1)
	for name, c := range map[string]struct {
		raw, sig []byte
		keys     []ed25519.PublicKey
		want     error
	}{
		"unsigned":         {s.Raw, nil, []ed25519.PublicKey{pub}, ErrUnsigned},
		"another signer":   {s.Raw, s.Sig, []ed25519.PublicKey{other}, ErrBadSignature},
		"altered manifest": {altered, s.Sig, []ed25519.PublicKey{pub}, ErrBadSignature},
		"short signature":  {s.Raw, s.Sig[:10], []ed25519.PublicKey{pub}, ErrBadSignature},
		"no trusted key":   {s.Raw, s.Sig, nil, ErrNoKeys},
	} {
		if _, err := Verify(c.raw, c.sig, c.keys); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// Well signed but not a manifest: refused all the same.
	for name, raw := range map[string]string{
		"not JSON":      "hello",
		"unknown field": `{"format":1,"version":"v1.0.0","board":"rpi4","root":{"size":1,"sha256":"` + strings.Repeat("a", 64) + `"},"extra":1}`,
		"bad version":   `{"format":1,"version":"1.0","board":"rpi4","root":{"size":1,"sha256":"` + strings.Repeat("a", 64) + `"}}`,
		"bad hash":      `{"format":1,"version":"v1.0.0","board":"rpi4","root":{"size":1,"sha256":"abc"}}`,
		"format 2":      `{"format":2,"version":"v1.0.0","board":"rpi4","root":{"size":1,"sha256":"` + strings.Repeat("a", 64) + `"}}`,
		"bad boot path": `{"format":1,"version":"v1.0.0","board":"rpi4","root":{"size":1,"sha256":"` + strings.Repeat("a", 64) + `"},"boot":[{"path":"../x","size":1,"sha256":"` + strings.Repeat("a", 64) + `"}]}`,
	} {
		if _, err := Verify([]byte(raw), ed25519.Sign(priv, []byte(raw)), []ed25519.PublicKey{pub}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := Sign(Manifest{Format: Format, Version: "latest"}, priv); !errors.Is(err, ErrMalformed) {
		t.Errorf("Sign of an incomplete manifest: %v", err)
	}
}

func TestCheckUpdate(t *testing.T) {
	m := testManifest(t, "v1.2.0")
	for _, c := range []struct {
		board, current string
		want           error
	}{
		{"rpi4", "v1.1.9", nil},
		{"rpi4", "v1.2.0", nil}, // the same version again: a repair, not a downgrade
		{"rpi4", "v0.0.212+9e76a66", nil},
		{"rpi4", "dev", nil}, // a development build accepts any
		{"rpi4", "v1.10.0", ErrDowngrade},
		{"rpi5", "v1.0.0", ErrWrongBoard},
	} {
		if err := m.CheckUpdate(c.board, c.current); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s %s: %v, want %v", c.board, c.current, err, c.want)
		}
	}
}

func TestTrailer(t *testing.T) {
	pub, priv := newKey(t)
	s, _ := Sign(testManifest(t, "v1.0.0"), priv)
	b, err := EncodeTrailer(s)
	if err != nil || len(b) != TrailerSize {
		t.Fatalf("EncodeTrailer: %d bytes, %v", len(b), err)
	}
	raw, sig, err := DecodeTrailer(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(raw, sig, []ed25519.PublicKey{pub}); err != nil {
		t.Error(err)
	}
	if _, _, err := DecodeTrailer(make([]byte, TrailerSize)); !errors.Is(err, ErrUnsigned) {
		t.Errorf("a slot without a trailer: %v", err)
	}
	bad := bytes.Clone(b)
	bad[len(trailerMagic)] = 0xff // a manifest length beyond the trailer
	if _, _, err := DecodeTrailer(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad lengths: %v", err)
	}
}

func bundle(t *testing.T, s Signed, root []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteBundle(&b, s, bytes.NewReader(root), s.Manifest.Created); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBundle(t *testing.T) {
	pub, priv := newKey(t)
	_, stranger := newKey(t)
	keys := []ed25519.PublicKey{pub}
	s, _ := Sign(testManifest(t, "v1.3.0"), priv)
	good := bundle(t, s, rootImage)

	b, err := OpenBundle(bytes.NewReader(good), keys)
	if err != nil {
		t.Fatal(err)
	}
	var slot bytes.Buffer
	if err := b.WriteRootTo(&slot); err != nil || !bytes.Equal(slot.Bytes(), rootImage) {
		t.Fatalf("WriteRootTo: %v (%d bytes)", err, slot.Len())
	}

	// Every way a bundle can be bad is refused, with its reason.
	foreign, _ := Sign(testManifest(t, "v1.3.0"), stranger)
	tampered := bytes.Clone(good)
	i := bytes.Index(tampered, []byte("squashfs root image"))
	tampered[i+100] ^= 0xff
	var unsigned bytes.Buffer
	tw := tar.NewWriter(&unsigned)
	_ = tw.WriteHeader(&tar.Header{Name: "manifest.json", Size: int64(len(s.Raw)), Mode: 0o644})
	_, _ = tw.Write(s.Raw)
	_ = tw.WriteHeader(&tar.Header{Name: "root.squashfs", Size: int64(len(rootImage)), Mode: 0o644})
	_, _ = tw.Write(rootImage)
	_ = tw.Close()
	for name, c := range map[string]struct {
		data []byte
		open error  // from OpenBundle
		root string // from WriteRootTo
	}{
		"unsigned":             {unsigned.Bytes(), ErrUnsigned, ""},
		"signed by a stranger": {bundle(t, foreign, rootImage), ErrBadSignature, ""},
		"tampered image":       {tampered, nil, "does not match the manifest"},
		"truncated in image":   {good[:len(good)/2], nil, "truncated"},
		"truncated early":      {good[:700], io.ErrUnexpectedEOF, ""},
		"not a bundle":         {[]byte(strings.Repeat("garbage ", 200)), ErrNotBundle, ""},
		"empty":                {nil, io.ErrUnexpectedEOF, ""},
	} {
		b, err := OpenBundle(bytes.NewReader(c.data), keys)
		if c.open != nil {
			if !errors.Is(err, c.open) {
				t.Errorf("%s: OpenBundle: %v, want %v", name, err, c.open)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: OpenBundle: %v", name, err)
			continue
		}
		if err := b.WriteRootTo(io.Discard); err == nil || !strings.Contains(err.Error(), c.root) {
			t.Errorf("%s: WriteRootTo: %v, want %q", name, err, c.root)
		}
	}
}

func TestKeys(t *testing.T) {
	pub, priv := newKey(t)
	pemKey, err := MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePrivateKey(pemKey)
	if err != nil || !back.Equal(priv) {
		t.Fatalf("private key round trip: %v", err)
	}
	keys, err := ParsePublicKeys(" " + EncodePublicKey(pub) + ",")
	if err != nil || len(keys) != 1 || !keys[0].Equal(pub) {
		t.Fatalf("public keys: %v %v", keys, err)
	}
	for _, bad := range []string{"not base64!", "c2hvcnQ="} {
		if _, err := ParsePublicKeys(bad); err == nil {
			t.Errorf("public key %q accepted", bad)
		}
	}
	if _, err := ParsePrivateKey([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")); err == nil {
		t.Error("a public key accepted as the signing key")
	}
}
