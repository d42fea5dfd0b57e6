package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCertMadeOnceAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dashboard.pem")
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	c, made, err := LoadOrCreateCert(path, CertOptions{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::2")}, Now: now})
	if err != nil || !made {
		t.Fatalf("first start: made %v, %v", made, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("certificate file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if !slices.Equal(leaf.DNSNames, []string{"sipguard.local", "localhost"}) {
		t.Errorf("DNS names %v", leaf.DNSNames)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	for _, want := range []string{"127.0.0.1", "::1", "192.0.2.2", "2001:db8::2"} {
		if !slices.Contains(ips, want) {
			t.Errorf("IP SANs %v lack %s", ips, want)
		}
	}
	if leaf.NotAfter.Sub(now) != CertValidity || leaf.NotBefore.After(now) {
		t.Errorf("valid %v to %v", leaf.NotBefore, leaf.NotAfter)
	}
	if err := leaf.VerifyHostname("sipguard.local"); err != nil {
		t.Error(err)
	}

	// A restart keeps it.
	again, made, err := LoadOrCreateCert(path, CertOptions{Now: now.Add(time.Hour)})
	if err != nil || made || Fingerprint(again.Certificate[0]) != Fingerprint(c.Certificate[0]) {
		t.Errorf("second start: made %v, %v, same %v", made, err, Fingerprint(again.Certificate[0]) == Fingerprint(c.Certificate[0]))
	}

	// A damaged file is an error, and left as it is.
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateCert(path, CertOptions{Now: now}); err == nil {
		t.Error("a damaged certificate file was taken")
	}
	if b, _ := os.ReadFile(path); string(b) != "garbage" {
		t.Error("the damaged file was replaced")
	}
}

func TestFingerprint(t *testing.T) {
	der := []byte("certificate")
	sum := sha256.Sum256(der)
	fp := Fingerprint(der)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("fingerprint %q: want 32 uppercase hex pairs joined by ':'", fp)
	}
	if strings.ReplaceAll(fp, ":", "") != strings.ToUpper(hex.EncodeToString(sum[:])) {
		t.Errorf("fingerprint %q is not the SHA-256 of the DER", fp)
	}
}
