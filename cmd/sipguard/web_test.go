package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/web"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// boxClient is an HTTPS client in namespace ns, from address src, that
// trusts the box's certificate by its fingerprint alone, as a remote
// command line pins it.
func boxClient(ns *netlab.NS, src netip.Addr, fingerprint string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return ns.DialTCP(ctx, src, netip.MustParseAddrPort(addr), 2*time.Second)
			},
			TLSClientConfig: &tls.Config{
				InsecureSkipVerify: true, // checked by VerifyConnection: the pinned fingerprint
				VerifyConnection: func(cs tls.ConnectionState) error {
					if got := web.Fingerprint(cs.PeerCertificates[0].Raw); got != fingerprint {
						return fmt.Errorf("certificate %s, pinned %s", got, fingerprint)
					}
					return nil
				},
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// page requests path of the box and returns the status and the body.
func page(t *testing.T, c *http.Client, method, path string, form any, header ...string) (int, string, http.Header) {
	t.Helper()
	var body io.Reader
	switch f := form.(type) {
	case url.Values:
		body = strings.NewReader(f.Encode())
	case string:
		body = strings.NewReader(f)
	}
	req, err := http.NewRequest(method, "https://"+netlab.BoxMgmt4.String()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := form.(url.Values); ok {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestDaemonDashboard(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	_, log, stop := launchDaemon(t, lab, bin, "--api", sock, "--state", filepath.Join(dir, "state.db"),
		"--mgmt-addr", netip.PrefixFrom(netlab.BoxMgmt4, 24).String(), "--mgmt-addr", netip.PrefixFrom(netlab.BoxMgmt6, 64).String(),
		"--mgmt-gw4", netlab.Gateway4.String(), "--admin", netlab.Carrier4.String(), "--admin", netlab.Gateway4.String())
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "dashboard listening") {
		if time.Now().After(deadline) {
			t.Fatalf("dashboard not listening after 10s:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fi, err := os.Stat(filepath.Join(dir, "dashboard.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("certificate file: %v, %v", fi, err)
	}

	// The console shows the fingerprint; the daemon logged the same.
	status := sipguard(t, lab, bin, "--api", sock, "status")
	m := regexp.MustCompile(`Dashboard certificate fingerprint SHA-256 ([0-9A-F:]{95})`).FindStringSubmatch(status)
	if m == nil || !strings.Contains(status, "no password yet") {
		t.Fatalf("status shows no fingerprint, or a password:\n%s", status)
	}
	fp := m[1]
	if !strings.Contains(log.String(), "dashboard certificate fingerprint SHA-256 "+fp) {
		t.Errorf("the daemon's log lacks the fingerprint %s:\n%s", fp, log)
	}

	// Anyone else on the wan: the kernel drops the connection.
	if c, err := lab.WAN.DialTCP(context.Background(), netlab.Attacker4, netip.AddrPortFrom(netlab.BoxMgmt4, 443), 500*time.Millisecond); err == nil {
		c.Close()
		t.Error("a wan source outside the admin allowlist connected to the dashboard")
	}

	// An admin on the wan, right behind the wan port: served, but the
	// first password is the office's to set.
	wanAdmin := boxClient(lab.WAN, netlab.Gateway4, fp)
	pw := url.Values{"password": {"correct horse battery"}, "again": {"correct horse battery"}}
	if code, body, _ := page(t, wanAdmin, "POST", "/setup", pw); code != http.StatusForbidden || !strings.Contains(body, "office side") {
		t.Errorf("setup from the wan admin: %d %s", code, body)
	}

	// The office: the first visit sets the password, then a login opens
	// the overview.
	office := boxClient(lab.PBX, netlab.PBX4, fp)
	if code, _, h := page(t, office, "GET", "/", nil); code != http.StatusSeeOther || h.Get("Location") != "/setup" {
		t.Fatalf("first visit: %d %v", code, h)
	}
	if code, body, _ := page(t, office, "POST", "/setup", pw); code != http.StatusSeeOther {
		t.Fatalf("setup from the office: %d %s", code, body)
	}
	office = boxClient(lab.PBX, netlab.PBX4, fp) // a new browser
	if code, _, h := page(t, office, "POST", "/login", url.Values{"password": {"correct horse battery"}}); code != http.StatusSeeOther || h.Get("Location") != "/" {
		t.Fatalf("login: %d %v", code, h)
	}
	code, body, h := page(t, office, "GET", "/", nil)
	if code != http.StatusOK || !strings.Contains(body, "Overview") || h.Get("Strict-Transport-Security") == "" {
		t.Fatalf("overview: %d %v\n%s", code, h, body)
	}
	// The tokens page shows the fingerprint to compare with the console's.
	if code, body, _ := page(t, office, "GET", "/tokens", nil); code != http.StatusOK || !strings.Contains(body, fp) {
		t.Fatalf("tokens page without the fingerprint %s: %d\n%s", fp, code, body)
	}

	// The office over IPv6 too: its neighbour entry is found behind the lan
	// port.
	office6 := boxClient(lab.PBX, netlab.PBX6, fp)
	var resp6 *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; { // the box's IPv6 address may still be tentative
		var err error
		if resp6, err = office6.Get("https://[" + netlab.BoxMgmt6.String() + "]/login"); err == nil || time.Now().After(deadline) {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp6.Body.Close()
	if resp6.StatusCode != http.StatusOK {
		t.Errorf("the office over IPv6: %d", resp6.StatusCode)
	}

	// The admin on the wan logs in too, but a wrong password is refused.
	if code, _, _ := page(t, wanAdmin, "POST", "/login", url.Values{"password": {"wrong password"}}); code != http.StatusUnauthorized {
		t.Errorf("a wrong password: %d", code)
	}

	// Plain HTTP redirects.
	plain := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return lab.PBX.DialTCP(ctx, netlab.PBX4, netip.MustParseAddrPort(addr), 2*time.Second)
		}}}
	resp, err := plain.Get("http://" + netlab.BoxMgmt4.String() + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "https://"+netlab.BoxMgmt4.String()+"/login" {
		t.Errorf("http: %d %v", resp.StatusCode, resp.Header)
	}

	// A token made on the box's console authorizes the API from a laptop
	// on the wan (the admin allowlist, through the gateway).
	out, err := lab.Box.Output(context.Background(), bin, "--api", sock, "token", "create", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(out))
	laptop := boxClient(lab.WAN, netlab.Carrier4, fp)
	code, body, _ = page(t, laptop, "GET", "/v1/status", nil, "Authorization", "Bearer "+secret)
	var st api.Status
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil || st.Dashboard == nil || st.Dashboard.Fingerprint != fp || !st.Dashboard.PasswordSet {
		t.Errorf("status by token: %d %s", code, body)
	}
	if code, body, _ := page(t, laptop, "GET", "/v1/bans", nil, "Authorization", "Bearer "+secret); code != http.StatusOK || !strings.Contains(body, "permanent") {
		t.Errorf("bans by token: %d %s", code, body)
	}
	if code, body, _ := page(t, laptop, "POST", "/v1/lists/allow", `{"entries":[{"prefix":"198.51.100.0/24","note":"carrier"}]}`, "Authorization", "Bearer "+secret); code != http.StatusOK {
		t.Errorf("allowlisting by token: %d %s", code, body)
	}
	if code, body, _ := page(t, laptop, "POST", "/v1/tokens", `{"name":"more"}`, "Authorization", "Bearer "+secret); code != http.StatusForbidden {
		t.Errorf("a token made by a token: %d %s", code, body)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "status", "--allow"); !strings.Contains(out, "198.51.100.0/24") {
		t.Errorf("the token's allowlisting is not in force:\n%s", out)
	}
	if code, _, _ := page(t, laptop, "GET", "/v1/status", nil); code != http.StatusUnauthorized {
		t.Errorf("status without a token: %d", code)
	}
	// Revoked on the console, it authorizes nothing.
	var toks []api.Token
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "token", "list", "--json")), &toks); err != nil || len(toks) != 1 {
		t.Fatalf("token list: %+v, %v", toks, err)
	}
	sipguard(t, lab, bin, "--api", sock, "token", "revoke", toks[0].ID)
	if code, _, _ := page(t, laptop, "GET", "/v1/status", nil, "Authorization", "Bearer "+secret); code != http.StatusUnauthorized {
		t.Errorf("a revoked token: %d", code)
	}
	if !strings.Contains(log.String(), "token:laptop POST /v1/lists/allow") {
		t.Errorf("the daemon's log lacks the token's change:\n%s", log)
	}

	// The changes are in the attack log.
	stop()
	st2, err := store.Open(filepath.Join(dir, "state.db"), store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	evs, err := st2.Events(100)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range evs {
		if e.Action == store.ActionAdmin {
			reasons = append(reasons, e.Reason)
		}
	}
	for _, want := range []string{"admin set the dashboard's first password", "admin logged in to the dashboard", "dashboard login refused", "token:laptop POST /v1/lists/allow (200)"} {
		if !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, want) }) {
			t.Errorf("the attack log lacks %q: %q", want, reasons)
		}
	}
}

// dashboardFingerprint waits for the dashboard to listen and returns its
// fingerprint as sipguard status shows it, and whether a password is set.
func dashboardFingerprint(t *testing.T, lab *netlab.Lab, bin, sock string) (string, bool) {
	t.Helper()
	re := regexp.MustCompile(`Dashboard certificate fingerprint SHA-256 ([0-9A-F:]{95})`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		status := sipguard(t, lab, bin, "--api", sock, "status")
		if m := re.FindStringSubmatch(status); m != nil && strings.Contains(status, "Dashboard: serving") {
			return m[1], !strings.Contains(status, "no password yet")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard does not serve:\n%s", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDaemonDashboardFactoryReset(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	_, log, _ := launchDaemon(t, lab, bin, "--api", sock, "--state", filepath.Join(dir, "state.db"),
		"--mgmt-addr", netip.PrefixFrom(netlab.BoxMgmt4, 24).String())
	fp, set := dashboardFingerprint(t, lab, bin, sock)
	if set {
		t.Fatal("a fresh box has a password")
	}
	office := boxClient(lab.PBX, netlab.PBX4, fp)
	pw := url.Values{"password": {"correct horse battery"}, "again": {"correct horse battery"}}
	if code, body, _ := page(t, office, "POST", "/setup", pw); code != http.StatusSeeOther {
		t.Fatalf("setup: %d %s", code, body)
	}
	sipguard(t, lab, bin, "--api", sock, "token", "create", "laptop")
	if _, set := dashboardFingerprint(t, lab, bin, sock); !set {
		t.Fatal("the password is not set")
	}

	// Held 10 s: the factory reset wipes the password, the tokens, the
	// sessions and the certificate.
	sipguard(t, lab, bin, "--api", sock, "button", "press", "--hold", "10500ms")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(log.String(), "factory reset done") || strings.Count(log.String(), "msg=protecting") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no restart after the factory reset:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fp2, set := dashboardFingerprint(t, lab, bin, sock)
	if set || fp2 == fp {
		t.Errorf("after the factory reset: password set %v, fingerprint %s (was %s)", set, fp2, fp)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "token", "list"); !strings.Contains(out, "no API tokens") {
		t.Errorf("tokens after the factory reset:\n%s", out)
	}
	office = boxClient(lab.PBX, netlab.PBX4, fp2)
	if code, _, h := page(t, office, "GET", "/", nil); code != http.StatusSeeOther || h.Get("Location") != "/setup" {
		t.Errorf("after the factory reset: %d %v", code, h)
	}
}
