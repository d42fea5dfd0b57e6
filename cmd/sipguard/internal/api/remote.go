package api

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultPort is the box's HTTPS port, taken when a box is named without
// one.
const DefaultPort = "443"

// Remote is a box reached over HTTPS from another machine: the same API
// at the same /v1/ paths, authorized by an API token, on a connection
// whose certificate must be the box's. The box's certificate is
// self-signed, so no authority vouches for it: its fingerprint is pinned
// the first time a request succeeds (trust on first use), or given by
// the user, and every later connection must show that certificate.
// Make one with [NewRemote] and put it in a [Client].
type Remote struct {
	addr        string // host:port
	token       string
	fingerprint string // given by the user; "" if none
	pins        Pins
	notice      io.Writer
	transport   *http.Transport

	mu     sync.Mutex
	loaded bool
	pinned string // the fingerprint pinned in Pins
	want   string // the fingerprint the box must show; "" until known
}

// Pins keeps the certificate fingerprints of the boxes a user has used,
// across runs.
type Pins interface {
	// Pin returns the fingerprint pinned for a box (host:port), or "" if
	// there is none.
	Pin(addr string) (string, error)
	// SetPin pins a box's fingerprint.
	SetPin(addr, fingerprint string) error
}

// RemoteOptions says how to reach a box.
type RemoteOptions struct {
	// Token is an API token made in the dashboard (Tokens) or with
	// sipguard token create on the box.
	Token string
	// Fingerprint, if set, is the fingerprint the box's certificate must
	// have, as the dashboard or the box's console shows it. It is checked
	// instead of the pinned one, and pinned once a request succeeds.
	Fingerprint string
	// Pins keeps the fingerprints of known boxes.
	Pins Pins
	// Notice receives a line when a box's fingerprint is pinned, for the
	// user to compare with the dashboard's.
	Notice io.Writer
	// Dial, if set, connects to the box (host:port) instead of the
	// system's dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// ErrTokenRefused means the box answered 401: the token is wrong, or was
// revoked.
var ErrTokenRefused = errors.New("the box refused the token (revoked or wrong): create one in the dashboard, Tokens")

// ErrNoToken means a box was named without a token to use with it.
var ErrNoToken = errors.New("no API token for the box: give --token or --token-file, or set SIPGUARD_TOKEN (create one in the dashboard, Tokens)")

// NewRemote prepares the API of the box at box, HOST[:PORT] (port 443 if
// none). Nothing is sent until a request is made.
func NewRemote(box string, o RemoteOptions) (*Remote, error) {
	addr, err := ParseBox(box)
	if err != nil {
		return nil, err
	}
	r := &Remote{addr: addr, token: o.Token, pins: o.Pins, notice: o.Notice}
	dial := o.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		dial = d.DialContext
	}
	if o.Fingerprint != "" {
		if r.fingerprint, err = ParseFingerprint(o.Fingerprint); err != nil {
			return nil, err
		}
	}
	if r.notice == nil {
		r.notice = io.Discard
	}
	host, _, _ := net.SplitHostPort(addr)
	r.transport = &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{
			ServerName: host,
			MinVersion: tls.VersionTLS12,
			// No authority signs the box's certificate: it is verified
			// by its pinned fingerprint, in VerifyConnection, before a
			// byte of the request is sent.
			InsecureSkipVerify: true,
			VerifyConnection:   r.verify,
		},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return r, nil
}

// Addr is the box's host:port.
func (r *Remote) Addr() string { return r.addr }

// Close closes the connections kept open to the box.
func (r *Remote) Close() { r.transport.CloseIdleConnections() }

// load reads the box's pin, once.
func (r *Remote) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loaded {
		return nil
	}
	if r.pins != nil {
		p, err := r.pins.Pin(r.addr)
		if err != nil {
			return fmt.Errorf("box %s: %w", r.addr, err)
		}
		r.pinned = p
	}
	r.want = r.pinned
	if r.fingerprint != "" {
		r.want = r.fingerprint
	}
	r.loaded = true
	return nil
}

// verify checks the certificate of a new connection against the
// fingerprint the box must have. On first use, the first certificate seen
// becomes the one every further connection must show; it is pinned only
// once a request succeeds (confirm).
func (r *Remote) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("box %s: no certificate", r.addr)
	}
	got := Fingerprint(cs.PeerCertificates[0].Raw)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.want == "":
		r.want = got
	case got != r.want:
		return &PinError{Addr: r.addr, Got: got, Want: r.want, Given: r.fingerprint != ""}
	}
	return nil
}

// confirm pins the box's fingerprint after a request succeeded, if it is
// not pinned yet, and says so.
func (r *Remote) confirm() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.want == "" || r.want == r.pinned {
		return
	}
	old := r.pinned
	r.pinned = r.want
	if r.pins == nil {
		return
	}
	if err := r.pins.SetPin(r.addr, r.want); err != nil {
		fmt.Fprintf(r.notice, "box %s: certificate SHA-256 %s; not pinned: %v\n", r.addr, r.want, err)
		return
	}
	if old != "" {
		fmt.Fprintf(r.notice, "box %s: certificate SHA-256 %s; pinned in place of %s\n", r.addr, r.want, old)
		return
	}
	fmt.Fprintf(r.notice, "box %s: certificate SHA-256 %s; pinned (compare it with the dashboard or the box's console)\n", r.addr, r.want)
}

// do sends req to the box with the token and reads the reply into out
// (as doWith does). The box's certificate is checked before anything is
// sent; its fingerprint is pinned only when the request succeeded.
func (r *Remote) do(req *http.Request, timeout time.Duration, out any) error {
	if r.token == "" {
		return ErrNoToken
	}
	if err := r.load(); err != nil {
		return err
	}
	req.URL.Scheme, req.URL.Host, req.Host = "https", r.addr, urlHost(r.addr)
	req.Header.Set("Authorization", "Bearer "+r.token)
	hc := &http.Client{Timeout: timeout, Transport: r.transport,
		// A redirect leads away from the API (to the login page): the
		// reply to the request is the redirect itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Do(req)
	if err != nil {
		var pe *PinError
		if errors.As(err, &pe) {
			return pe
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("box %s: %w", r.addr, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("box %s: %w", r.addr, ErrTokenRefused)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("box %s: %s", r.addr, replyError(resp))
	}
	if err := readReply(resp, out); err != nil {
		return fmt.Errorf("box %s: %w", r.addr, err)
	}
	r.confirm()
	return nil
}

// PinError refuses a box whose certificate is not the pinned one (or the
// one given): nothing was sent to it.
type PinError struct {
	Addr      string
	Got, Want string // the fingerprints shown and expected
	// Given says Want was given by the user, not pinned.
	Given bool
}

func (e *PinError) Error() string {
	if e.Given {
		return fmt.Sprintf("box %s: the certificate is not the one given; nothing was sent to it\n"+
			"  the box shows: %s\n  given:         %s", e.Addr, e.Got, e.Want)
	}
	return fmt.Sprintf("box %s: the certificate is not the pinned one; nothing was sent to it\n"+
		"  the box shows: %s\n  pinned:        %s\n"+
		"If the box made a new certificate (a factory reset), check the one it shows against the dashboard "+
		"or the box's console, then forget the old one: sipguard box forget %s", e.Addr, e.Got, e.Want, BoxName(e.Addr))
}

// Fingerprint is the fingerprint of a certificate, from its DER bytes: its
// SHA-256, as uppercase hex pairs joined by ':'.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return formatFingerprint(sum[:])
}

func formatFingerprint(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var s strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			s.WriteByte(':')
		}
		s.WriteString(h[i : i+2])
	}
	return s.String()
}

// ParseFingerprint reads a certificate's SHA-256 fingerprint as a person
// may copy it: hex pairs with or without colons (or spaces), either case.
// It returns it as [Fingerprint] writes it.
func ParseFingerprint(s string) (string, error) {
	h := strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s))
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("fingerprint %q: want the certificate's SHA-256 as 32 hex pairs, AA:BB:…", s)
	}
	return formatFingerprint(b), nil
}

// ParseBox reads a box's address, HOST[:PORT] (or https://HOST[:PORT]):
// a name, an IPv4 address, or an IPv6 address (in brackets with a port).
// It returns host:port, the port 443 if none is given.
func ParseBox(s string) (string, error) {
	orig := s
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "https://"); ok {
		s = strings.TrimSuffix(rest, "/")
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("box %q: %s (want HOST or HOST:PORT, e.g. sipguard.local or 192.0.2.2:8443)", orig, why)
	}
	if s == "" {
		return bad("no host")
	}
	host, port := s, DefaultPort
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.Count(s, ":") > 1 || strings.HasPrefix(s, "[") {
		host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]") // an IPv6 address alone
	} else if strings.Contains(s, ":") {
		return bad("not a host and port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return bad(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return net.JoinHostPort(a.String(), port), nil
	}
	if strings.Contains(host, ":") {
		return bad("not an IPv6 address")
	}
	if !validHostname(host) {
		return bad(fmt.Sprintf("%q is not a host name or address", host))
	}
	return net.JoinHostPort(strings.ToLower(strings.TrimSuffix(host, ".")), port), nil
}

// validHostname reports whether s is a DNS name: labels of letters,
// digits and hyphens.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// urlHost is the box's Host header: host:port, the host alone on port
// 443.
func urlHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != DefaultPort {
		return addr
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// BoxName is how a person names the box at addr (host:port): the host
// alone on port 443, else host:port.
func BoxName(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != DefaultPort {
		return addr
	}
	return host
}
