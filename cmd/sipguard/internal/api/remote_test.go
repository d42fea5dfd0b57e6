package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCert makes a certificate as the box makes its own: self-signed,
// ECDSA P-256, for sipguard.local and localhost.
func testCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "sipguard.local"},
		DNSNames:     []string{"sipguard.local", "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// testBox is the API served over HTTPS as the box's web server serves it:
// a bearer token is needed, else 401 with a JSON error.
type testBox struct {
	srv         *httptest.Server
	addr        string // host:port
	fingerprint string
	requests    atomic.Int32 // requests that reached the server, authorized or not
}

func newTestBox(t *testing.T, b Backend, token string) *testBox {
	t.Helper()
	box := &testBox{}
	api := Handler(b)
	box.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		box.requests.Add(1)
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"a valid API token is needed"}` + "\n"))
			return
		}
		api.ServeHTTP(w, r)
	}))
	cert := testCert(t)
	box.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	box.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	box.srv.StartTLS()
	t.Cleanup(box.srv.Close)
	box.addr = box.srv.Listener.Addr().String()
	box.fingerprint = Fingerprint(cert.Certificate[0])
	return box
}

// memPins keeps pins in memory.
type memPins struct {
	mu   sync.Mutex
	pins map[string]string
	sets int
}

func (p *memPins) Pin(addr string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pins[addr], nil
}

func (p *memPins) SetPin(addr, fp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pins == nil {
		p.pins = map[string]string{}
	}
	p.pins[addr] = fp
	p.sets++
	return nil
}

func remoteClient(t *testing.T, box string, o RemoteOptions) Client {
	t.Helper()
	r, err := NewRemote(box, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return Client{Remote: r}
}

// The first use of a box pins its certificate and says so; the next use
// with the same certificate is silent.
func TestRemotePinsOnFirstUse(t *testing.T) {
	box := newTestBox(t, &fakeBackend{}, "s3cret")
	pins := &memPins{}
	var notice bytes.Buffer
	c := remoteClient(t, box.addr, RemoteOptions{Token: "s3cret", Pins: pins, Notice: &notice})
	st, err := c.Status(context.Background())
	if err != nil || st.Sources != 7 {
		t.Fatalf("status over HTTPS: %+v %v", st, err)
	}
	if pins.pins[box.addr] != box.fingerprint {
		t.Errorf("pinned %q, want %q", pins.pins[box.addr], box.fingerprint)
	}
	want := "box " + box.addr + ": certificate SHA-256 " + box.fingerprint + "; pinned (compare it with the dashboard or the box's console)\n"
	if notice.String() != want {
		t.Errorf("notice:\n%q\nwant\n%q", notice.String(), want)
	}
	// More requests in the same run pin nothing again.
	if _, err := c.Bans(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pins.sets != 1 || strings.Count(notice.String(), "pinned") != 1 {
		t.Errorf("pinned %d times: %q", pins.sets, notice.String())
	}

	notice.Reset()
	again := remoteClient(t, box.addr, RemoteOptions{Token: "s3cret", Pins: pins, Notice: &notice})
	if _, err := again.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	if notice.Len() != 0 || pins.sets != 1 {
		t.Errorf("second use: notice %q, %d pins written", notice.String(), pins.sets)
	}
}

// A box showing another certificate than the pinned one is refused during
// the handshake: not a byte of the request, nor the token, reaches it.
func TestRemoteRefusesAnotherCertificate(t *testing.T) {
	b := &fakeBackend{}
	box := newTestBox(t, b, "s3cret")
	other := Fingerprint(testCert(t).Certificate[0])
	pins := &memPins{pins: map[string]string{box.addr: other}}
	var notice bytes.Buffer
	c := remoteClient(t, box.addr, RemoteOptions{Token: "s3cret", Pins: pins, Notice: &notice})
	_, err := c.Unban(context.Background(), []string{"203.0.113.66"}, false)
	var pe *PinError
	if !errors.As(err, &pe) || pe.Got != box.fingerprint || pe.Want != other {
		t.Fatalf("unban through a box with another certificate: %v", err)
	}
	host, _, _ := net.SplitHostPort(box.addr)
	for _, want := range []string{box.fingerprint, other, "nothing was sent", "sipguard box forget " + box.addr, "box " + host} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q: %v", want, err)
		}
	}
	if n := box.requests.Load(); n != 0 || len(b.unbanned) != 0 {
		t.Errorf("the box saw %d requests, unbanned %v", n, b.unbanned)
	}
	if pins.pins[box.addr] != other || pins.sets != 0 || notice.Len() != 0 {
		t.Errorf("the pin changed: %v, %q", pins.pins, notice.String())
	}
}

// A wrong or revoked token gets the message that says what to do, and the
// box is not pinned.
func TestRemoteWrongToken(t *testing.T) {
	box := newTestBox(t, &fakeBackend{}, "s3cret")
	pins := &memPins{}
	var notice bytes.Buffer
	c := remoteClient(t, box.addr, RemoteOptions{Token: "revoked", Pins: pins, Notice: &notice})
	_, err := c.Status(context.Background())
	if !errors.Is(err, ErrTokenRefused) {
		t.Fatalf("status with a wrong token: %v", err)
	}
	want := "box " + box.addr + ": the box refused the token (revoked or wrong): create one in the dashboard, Tokens"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if len(pins.pins) != 0 || notice.Len() != 0 {
		t.Errorf("a refused request pinned the box: %v %q", pins.pins, notice.String())
	}
	// No token at all: nothing is sent.
	c = remoteClient(t, box.addr, RemoteOptions{Pins: pins})
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNoToken) {
		t.Errorf("status without a token: %v", err)
	}
	if n := box.requests.Load(); n != 1 {
		t.Errorf("the box saw %d requests, want 1 (the wrong token's)", n)
	}
}

// A request the box refuses, or a box that cannot be reached, pins
// nothing; errors name the box and are not ErrNoDaemon (which would send
// commands to the local kernel).
func TestRemoteFailuresPinNothing(t *testing.T) {
	box := newTestBox(t, &fakeBackend{}, "s3cret")
	pins := &memPins{}
	var notice bytes.Buffer
	c := remoteClient(t, box.addr, RemoteOptions{Token: "s3cret", Pins: pins, Notice: &notice})
	_, err := c.RefreshFeeds(context.Background(), "nope")
	if err == nil || err.Error() != "box "+box.addr+": bad request: no such feed" {
		t.Errorf("refused request: %v", err)
	}
	if len(pins.pins) != 0 || notice.Len() != 0 {
		t.Errorf("a refused request pinned the box: %v %q", pins.pins, notice.String())
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	c = remoteClient(t, closed, RemoteOptions{Token: "s3cret", Pins: pins})
	_, err = c.Status(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "box "+closed+": ") || errors.Is(err, ErrNoDaemon) {
		t.Errorf("unreachable box: %v", err)
	}
	if len(pins.pins) != 0 {
		t.Errorf("an unreachable box was pinned: %v", pins.pins)
	}
}

// A box named without a port is reached on 443, by its name.
func TestRemoteDefaultPort(t *testing.T) {
	box := newTestBox(t, &fakeBackend{}, "s3cret")
	var dialed []string
	var d net.Dialer
	c := remoteClient(t, "sipguard.local", RemoteOptions{Token: "s3cret", Pins: &memPins{},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed = append(dialed, addr)
			return d.DialContext(ctx, network, box.addr)
		}})
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(dialed) != 1 || dialed[0] != "sipguard.local:443" {
		t.Errorf("dialed %v, want sipguard.local:443", dialed)
	}
}

// A fingerprint given by the user is checked instead of the pinned one,
// and pinned once a request succeeds.
func TestRemoteGivenFingerprint(t *testing.T) {
	box := newTestBox(t, &fakeBackend{}, "s3cret")
	old := Fingerprint(testCert(t).Certificate[0])
	pins := &memPins{pins: map[string]string{box.addr: old}}
	var notice bytes.Buffer
	c := remoteClient(t, box.addr, RemoteOptions{Token: "s3cret", Pins: pins, Notice: &notice, Fingerprint: old})
	var pe *PinError
	if _, err := c.Status(context.Background()); !errors.As(err, &pe) || !pe.Given || !strings.Contains(err.Error(), "not the one given") {
		t.Fatalf("a box without the given fingerprint: %v", err)
	}
	given := strings.ToLower(strings.ReplaceAll(box.fingerprint, ":", ""))
	c = remoteClient(t, box.addr, RemoteOptions{Token: "s3cret", Pins: pins, Notice: &notice, Fingerprint: given})
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pins.pins[box.addr] != box.fingerprint || !strings.Contains(notice.String(), "pinned in place of "+old) {
		t.Errorf("pins %v, notice %q", pins.pins, notice.String())
	}
	if n := box.requests.Load(); n != 1 {
		t.Errorf("the box saw %d requests, want 1", n)
	}
}

// A redirect (as to a login page) is not followed: the token stays with
// the API.
func TestRemoteDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			followed.Add(1)
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	}))
	defer srv.Close()
	c := remoteClient(t, srv.Listener.Addr().String(), RemoteOptions{Token: "s3cret", Pins: &memPins{}})
	_, err := c.Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "303 See Other") || followed.Load() != 0 {
		t.Errorf("redirect: %v, followed %d", err, followed.Load())
	}
}

func TestParseBox(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"sipguard.local", "sipguard.local:443"},
		{"SipGuard.Local.", "sipguard.local:443"},
		{"sipguard.local:8443", "sipguard.local:8443"},
		{"https://sipguard.local/", "sipguard.local:443"},
		{"192.0.2.2", "192.0.2.2:443"},
		{"192.0.2.2:8443", "192.0.2.2:8443"},
		{"2001:db8::2", "[2001:db8::2]:443"},
		{"[2001:db8::2]", "[2001:db8::2]:443"},
		{"[2001:db8::2]:8443", "[2001:db8::2]:8443"},
		{"fe80::1%en0", "[fe80::1%en0]:443"},
	} {
		if got, err := ParseBox(c.in); err != nil || got != c.want {
			t.Errorf("ParseBox(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "sipguard.local:", "sipguard.local:0", "sipguard.local:99999", "sipguard.local:https",
		"http://sipguard.local", "sipguard.local/v1", "bad host", "-x.local", "[2001:db8::zz]:443", "a:b"} {
		if got, err := ParseBox(in); err == nil {
			t.Errorf("ParseBox(%q) = %q, want an error", in, got)
		}
	}
}

func TestFingerprint(t *testing.T) {
	fp := Fingerprint([]byte("a certificate"))
	if len(fp) != 32*3-1 || strings.ToUpper(fp) != fp || strings.Count(fp, ":") != 31 {
		t.Errorf("Fingerprint = %q", fp)
	}
	for _, in := range []string{fp, strings.ToLower(fp), strings.ReplaceAll(fp, ":", ""), strings.ReplaceAll(fp, ":", " ")} {
		if got, err := ParseFingerprint(in); err != nil || got != fp {
			t.Errorf("ParseFingerprint(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "AA:BB", fp + ":00", strings.Replace(fp, fp[:2], "ZZ", 1)} {
		if _, err := ParseFingerprint(in); err == nil {
			t.Errorf("ParseFingerprint(%q) took it", in)
		}
	}
}

// Bodies that are not JSON travel over HTTPS as they do on the socket: an
// update bundle up, a backup down, a backup's password in its header.
func TestRemoteRawBodies(t *testing.T) {
	b := &fakeBackend{}
	box := newTestBox(t, b, "s3cret")
	c := remoteClient(t, box.addr, RemoteOptions{Token: "s3cret", Pins: &memPins{}})
	ctx := context.Background()
	bundle := bytes.Repeat([]byte("bundle"), 100_000)
	if u, err := c.Update(ctx, bytes.NewReader(bundle)); err != nil || u.Version != "v1.3.0" || !bytes.Equal(b.uploaded, bundle) {
		t.Fatalf("update: %+v %v (%d bytes arrived)", u, err, len(b.uploaded))
	}
	file, err := c.Backup(ctx, "correct horse battery")
	if err != nil || !bytes.HasPrefix(file, []byte("age-encryption.org/v1\n")) || b.password != "correct horse battery" {
		t.Fatalf("backup: %q %v", file, err)
	}
	if _, err := c.Restore(ctx, "wrong password here", file); err == nil || !strings.Contains(err.Error(), "wrong password") || b.restored != nil {
		t.Errorf("restore with a wrong password: %v", err)
	}
}
