package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

const testToken = "sgt_0123456789abcdef"

// tlsBox is a fake daemon's API served over HTTPS as the box serves it:
// a self-signed certificate, and a bearer token or 401.
type tlsBox struct {
	addr, fingerprint string
	requests          atomic.Int32 // requests that reached it, authorized or not
}

func serveFakeTLS(t *testing.T, f *fakeDaemon) *tlsBox {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sipguard.local"},
		DNSNames: []string{"sipguard.local"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	box := &tlsBox{fingerprint: api.Fingerprint(der)}
	h := api.Handler(f)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		box.requests.Add(1)
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"a valid API token is needed"}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	box.addr = srv.Listener.Addr().String()
	return box
}

// laptop gives the test a user of its own: an empty configuration folder
// (where known_boxes goes) and no box or token in the environment. It
// returns the known_boxes file.
func laptop(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the configuration folder is set through XDG_CONFIG_HOME on Linux only")
	}
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv(BoxEnv, "")
	t.Setenv(TokenEnv, "")
	return filepath.Join(dir, "sipguard", "known_boxes")
}

// status works from a laptop: the first use pins the box and says so on
// stderr, the next is silent, and box list shows the pin.
func TestBoxStatus(t *testing.T) {
	known := laptop(t)
	box := serveFakeTLS(t, &fakeDaemon{})
	code, out, errOut := run(t, "--box", box.addr, "--token", testToken, "status")
	if code != 0 || !strings.Contains(out, "Dynamic (temporary)") || !strings.Contains(out, "| frames") {
		t.Fatalf("status --box: %d\n%s\n%s", code, out, errOut)
	}
	want := "box " + box.addr + ": certificate SHA-256 " + box.fingerprint + "; pinned (compare it with the dashboard or the box's console)\n"
	if errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	data, err := os.ReadFile(known)
	if err != nil || !strings.Contains(string(data), box.addr+" "+box.fingerprint+"\n") {
		t.Errorf("known_boxes: %q %v", data, err)
	}
	if fi, err := os.Stat(known); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("known_boxes: %v %v", fi.Mode(), err)
	}
	if code, out, errOut := run(t, "--box", box.addr, "--token", testToken, "status", "--json"); code != 0 || errOut != "" || !strings.Contains(out, `"sources": 3`) {
		t.Errorf("second use: %d %q %q", code, out, errOut)
	}
	if code, out, _ := run(t, "box", "list"); code != 0 || !strings.Contains(out, box.addr) || !strings.Contains(out, box.fingerprint) {
		t.Errorf("box list: %d\n%s", code, out)
	}
}

// allow add goes to the box, with the token read from a file.
func TestBoxAllowAdd(t *testing.T) {
	laptop(t)
	f := &fakeDaemon{}
	box := serveFakeTLS(t, f)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "--box", box.addr, "--token-file", tokenFile, "allow", "add", "--note", "carrier", "198.51.100.0/24", "203.0.113.7")
	if code != 0 || out != "added 2 to the allow list\n" {
		t.Fatalf("allow add --box: %d %q %q", code, out, errOut)
	}
	got := f.added["allow"]
	if len(got) != 2 || got[0].Prefix != "198.51.100.0/24" || got[0].Note != "carrier" || got[1].Prefix != "203.0.113.7/32" {
		t.Errorf("the box got %+v", got)
	}
}

// $SIPGUARD_BOX and $SIPGUARD_TOKEN stand for --box and --token.
func TestBoxEnvironment(t *testing.T) {
	laptop(t)
	box := serveFakeTLS(t, &fakeDaemon{})
	t.Setenv(BoxEnv, box.addr)
	t.Setenv(TokenEnv, testToken)
	code, out, errOut := run(t, "bans")
	if code != 0 || !strings.Contains(out, "friendly-scanner") || !strings.Contains(errOut, "pinned") {
		t.Errorf("bans with the environment: %d %q %q", code, out, errOut)
	}
	// A token on the command line wins over the environment's.
	if code, _, errOut := run(t, "--token", "wrong", "bans"); code != 1 || !strings.Contains(errOut, "the box refused the token (revoked or wrong): create one in the dashboard, Tokens") {
		t.Errorf("bans with a wrong token: %d %q", code, errOut)
	}
}

// A box whose certificate is not the pinned one is refused before
// anything is sent; forgetting it lets the next use pin the new one.
func TestBoxCertificateChanged(t *testing.T) {
	known := laptop(t)
	f := &fakeDaemon{}
	box := serveFakeTLS(t, f)
	old := api.Fingerprint([]byte("the certificate before the factory reset"))
	if err := os.MkdirAll(filepath.Dir(known), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(known, []byte(box.addr+" "+old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "--box", box.addr, "--token", testToken, "allow", "add", "203.0.113.7")
	for _, want := range []string{old, box.fingerprint, "nothing was sent", "sipguard box forget " + box.addr} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the refusal lacks %q: %s", want, errOut)
		}
	}
	if code != 1 || box.requests.Load() != 0 || len(f.added) != 0 {
		t.Fatalf("exit %d; the box saw %d requests, added %v", code, box.requests.Load(), f.added)
	}
	if code, out, errOut := run(t, "box", "forget", box.addr); code != 0 || !strings.Contains(out, "forgotten") {
		t.Fatalf("box forget: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := run(t, "box", "forget", box.addr); code != 1 || !strings.Contains(errOut, "not known") {
		t.Errorf("box forget of an unknown box: %d %q", code, errOut)
	}
	code, out, errOut := run(t, "--box", box.addr, "--token", testToken, "allow", "add", "203.0.113.7")
	if code != 0 || !strings.Contains(out, "added 1") || !strings.Contains(errOut, box.fingerprint+"; pinned") {
		t.Errorf("after forget: %d %q %q", code, out, errOut)
	}
}

// Commands that work on the box itself say so with --box and send
// nothing; flags that go with --box are refused without it.
func TestBoxRefusedCommands(t *testing.T) {
	laptop(t)
	box := serveFakeTLS(t, &fakeDaemon{})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"daemon"}, "daemon runs the box's service"},
		{[]string{"ban", "203.0.113.5"}, "ban writes the kernel of the machine it runs on"},
		{[]string{"leds"}, "leds watches the LEDs"},
		{[]string{"button", "press"}, "button presses the simulated board's button"},
		{[]string{"--api", "/run/other.sock", "status"}, "not both"},
		{[]string{"--token", "a", "--token-file", "b", "status"}, "not both"},
		{[]string{"--fingerprint", "AA:BB", "status"}, "want the certificate's SHA-256"},
	} {
		args := append([]string{"--box", box.addr, "--token", testToken}, c.args...)
		code, _, errOut := run(t, args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	if n := box.requests.Load(); n != 0 {
		t.Errorf("the box saw %d requests", n)
	}
	for _, args := range [][]string{{"--token", testToken, "status"}, {"--fingerprint", box.fingerprint, "bans"}} {
		if code, _, errOut := run(t, args...); code != 2 || !strings.Contains(errOut, "goes with --box") {
			t.Errorf("%v without --box: %d %q", args, code, errOut)
		}
	}
	// Commands that need no daemon work with a box named.
	if code, out, _ := run(t, "--box", box.addr, "config", "defaults"); code != 0 || !strings.Contains(out, "register_limit") {
		t.Errorf("config defaults with --box: %d", code)
	}
}

// A box that cannot be reached is an error naming it: status does not
// fall back to reading this machine's kernel, as it does when the local
// daemon is not running.
func TestBoxUnreachable(t *testing.T) {
	known := laptop(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	code, out, errOut := run(t, "--box", addr, "--token", testToken, "status")
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "sipguard: box "+addr+": ") || !strings.Contains(errOut, "refused") {
		t.Errorf("status of an unreachable box: %d %q %q", code, out, errOut)
	}
	if _, err := os.Stat(known); !os.IsNotExist(err) {
		t.Errorf("an unreachable box was pinned: %v", err)
	}
	code, _, errOut = run(t, "--box", addr, "status")
	if code != 1 || !strings.Contains(errOut, "no API token for the box") {
		t.Errorf("status without a token: %d %q", code, errOut)
	}
}
