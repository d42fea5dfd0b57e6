package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/atomicfile"
)

// CertValidity is how long the box's self-signed certificate is valid.
const CertValidity = 10 * 365 * 24 * time.Hour

// CertOptions say what the box's certificate names, when it is made.
type CertOptions struct {
	// Hostname is the box's mDNS name, without .local; empty: sipguard.
	Hostname string
	// Addrs are the management addresses present when it is made.
	Addrs []netip.Addr
	// Now is the time it is made at: its validity starts a day before.
	Now time.Time
}

// LoadOrCreateCert returns the certificate and key kept in the PEM file
// at path, or, when there is none, makes a self-signed ECDSA P-256 one
// valid CertValidity for <hostname>.local, localhost and o's addresses,
// and writes it there (mode 0600, atomically). An empty path makes one
// kept in memory only. made says a new one was made. A file that cannot
// be read as a certificate and its key is an error: it is left as it is.
func LoadOrCreateCert(path string, o CertOptions) (cert tls.Certificate, made bool, err error) {
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			c, err := tls.X509KeyPair(data, data)
			if err != nil {
				return tls.Certificate{}, false, fmt.Errorf("certificate %s: %w (a factory reset makes a new one)", path, err)
			}
			return c, false, nil
		case !errors.Is(err, fs.ErrNotExist):
			return tls.Certificate{}, false, fmt.Errorf("certificate: %w", err)
		}
	}
	data, err := newCert(o)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	if path != "" {
		if err := atomicfile.WriteFileMode(path, data, 0o600); err != nil {
			return tls.Certificate{}, false, fmt.Errorf("certificate: %w", err)
		}
	}
	cert, err = tls.X509KeyPair(data, data)
	return cert, err == nil, err
}

// newCert makes a self-signed certificate and its key, as PEM.
func newCert(o CertOptions) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	host := strings.TrimSuffix(o.Hostname, ".local")
	if host == "" {
		host = "sipguard"
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host + ".local", Organization: []string{"sipguard"}},
		NotBefore:             o.Now.Add(-24 * time.Hour),
		NotAfter:              o.Now.Add(CertValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{host + ".local", "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, a := range o.Addrs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(a.Unmap().AsSlice()))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certificate key: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...), nil
}

// Fingerprint is the SHA-256 of a certificate's DER, as uppercase hex
// pairs joined by ':': what the dashboard and the console show, and what
// a remote command line pins.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}
