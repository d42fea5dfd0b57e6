package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// Sources of the tests: the office, an admin on the wan, anyone else on
// the wan.
var (
	officeSrc = "192.0.2.20:40000"
	adminSrc  = "198.51.100.10:40000"
	wanSrc    = "203.0.113.66:40000"
)

// fakeBackend is the daemon: a status, a reload, and the tokens.
type fakeBackend struct {
	api.Backend // the rest is never called
	tokens      *Tokens
	mu          sync.Mutex
	reloads     int
}

func (f *fakeBackend) Status(context.Context) (api.Status, error) {
	return api.Status{Lists: map[string]api.ListSize{"allow": {IPv4: 2}, "dynamic": {IPv4: 7, IPv6: 1}}}, nil
}

func (f *fakeBackend) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return nil
}

func (f *fakeBackend) Bans(context.Context) (api.Bans, error) { return api.Bans{}, nil }

func (f *fakeBackend) Tokens(ctx context.Context) ([]api.Token, error) { return f.tokens.List(ctx) }
func (f *fakeBackend) CreateToken(ctx context.Context, name string) (api.NewToken, error) {
	return f.tokens.Create(ctx, name)
}
func (f *fakeBackend) RevokeToken(ctx context.Context, id string) error {
	return f.tokens.Revoke(ctx, id)
}

// lab is a server with fakes around it.
type lab struct {
	t      *testing.T
	srv    *Server
	be     *fakeBackend
	now    time.Time
	mu     sync.Mutex
	events []store.Event
	alerts []store.Event
}

func newLab(t *testing.T) *lab {
	l := &lab{t: t, now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	st := &MemoryStore{}
	clock := func() time.Time { l.mu.Lock(); defer l.mu.Unlock(); return l.now }
	l.be = &fakeBackend{tokens: NewTokens(st, clock)}
	cert, _, err := LoadOrCreateCert("", CertOptions{Now: l.now})
	if err != nil {
		t.Fatal(err)
	}
	l.srv = New(Options{
		Backend: l.be, Store: st, Tokens: l.be.tokens, Kept: true, Cert: cert, Now: clock,
		Admin: func() []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("198.51.100.10/32")} },
		Sides: SidesFunc(func(_ context.Context, a netip.Addr) Side {
			if netip.MustParsePrefix("192.0.2.0/24").Contains(a) {
				return LAN
			}
			return WAN
		}),
		Argon2: Argon2Params{Time: 1, Memory: 64, Threads: 1},
		Audit:  func(e store.Event) { l.mu.Lock(); l.events = append(l.events, e); l.mu.Unlock() },
		Alert:  func(e store.Event) { l.mu.Lock(); l.alerts = append(l.alerts, e); l.mu.Unlock() },
	})
	return l
}

func (l *lab) advance(d time.Duration) {
	l.mu.Lock()
	l.now = l.now.Add(d)
	l.mu.Unlock()
}

// req is one request to the server.
type req struct {
	method, path, from string
	form               url.Values
	body               string
	header             map[string]string
	cookie             string // the session's
}

func (l *lab) do(q req) *httptest.ResponseRecorder {
	var body io.Reader
	if q.form != nil {
		body = strings.NewReader(q.form.Encode())
	} else if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r := httptest.NewRequest(q.method, "https://sipguard.local"+q.path, body)
	r.RemoteAddr = q.from
	if q.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	if q.cookie != "" {
		r.AddCookie(&http.Cookie{Name: CookieName, Value: q.cookie})
	}
	w := httptest.NewRecorder()
	l.srv.ServeHTTP(w, r)
	return w
}

const goodPassword = "correct horse battery"

// setup sets the first password from the office and returns the session.
func (l *lab) setup() string {
	l.t.Helper()
	w := l.do(req{method: "POST", path: "/setup", from: officeSrc, form: url.Values{"password": {goodPassword}, "again": {goodPassword}}})
	if w.Code != http.StatusSeeOther {
		l.t.Fatalf("setup: %d %s", w.Code, w.Body)
	}
	return sessionCookie(l.t, w)
}

func sessionCookie(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName && c.MaxAge >= 0 {
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
				t.Errorf("session cookie %+v: want Secure, HttpOnly, SameSite=Strict, Path=/", c)
			}
			return c.Value
		}
	}
	t.Fatalf("no session cookie in %v", w.Header())
	return ""
}

// login logs in from src and returns the session.
func (l *lab) login(src string) string {
	l.t.Helper()
	w := l.do(req{method: "POST", path: "/login", from: src, form: url.Values{"password": {goodPassword}}})
	if w.Code != http.StatusSeeOther {
		l.t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	return sessionCookie(l.t, w)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the session's CSRF token from the overview's form.
func (l *lab) csrf(session string) string {
	l.t.Helper()
	w := l.do(req{method: "GET", path: "/", from: officeSrc, cookie: session})
	m := csrfField.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || m == nil {
		l.t.Fatalf("overview: %d %s", w.Code, w.Body)
	}
	return m[1]
}

func TestSetupOnceFromTheOfficeOnly(t *testing.T) {
	l := newLab(t)
	// Before a password, every page leads to the setup.
	if w := l.do(req{method: "GET", path: "/", from: officeSrc}); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/setup" {
		t.Errorf("/ without a password: %d %v", w.Code, w.Header())
	}
	if w := l.do(req{method: "GET", path: "/setup", from: officeSrc}); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="again"`) {
		t.Errorf("setup page: %d %s", w.Code, w.Body)
	}
	// An admin on the wan may reach the box, but not set its first password.
	form := url.Values{"password": {goodPassword}, "again": {goodPassword}}
	if w := l.do(req{method: "POST", path: "/setup", from: adminSrc, form: form}); w.Code != http.StatusForbidden || l.srv.PasswordSet() {
		t.Errorf("setup from the wan: %d, password set %v", w.Code, l.srv.PasswordSet())
	}
	for _, bad := range []struct{ pw, again, want string }{
		{"short", "short", "at least 10"},
		{goodPassword, goodPassword + "x", "differ"},
		{"password123", "password123", "common"},
		{"aaaaaaaaaaaa", "aaaaaaaaaaaa", "repeated"},
	} {
		w := l.do(req{method: "POST", path: "/setup", from: officeSrc, form: url.Values{"password": {bad.pw}, "again": {bad.again}}})
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), bad.want) || l.srv.PasswordSet() {
			t.Errorf("setup with %q/%q: %d %s", bad.pw, bad.again, w.Code, w.Body)
		}
	}
	session := l.setup()
	if l.do(req{method: "GET", path: "/", from: officeSrc, cookie: session}).Code != http.StatusOK {
		t.Error("the session of the setup does not open the overview")
	}
	// Once set, the setup is closed.
	w := l.do(req{method: "POST", path: "/setup", from: officeSrc, form: url.Values{"password": {"another good one"}, "again": {"another good one"}}})
	if w.Code != http.StatusConflict {
		t.Errorf("a second setup: %d", w.Code)
	}
	if w := l.do(req{method: "GET", path: "/setup", from: officeSrc}); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Errorf("setup page with a password: %d %v", w.Code, w.Header())
	}
	if w := l.do(req{method: "POST", path: "/login", from: officeSrc, form: url.Values{"password": {"another good one"}}}); w.Code != http.StatusUnauthorized {
		t.Errorf("the second setup's password logs in: %d", w.Code)
	}
	if !l.hasEvent(store.ActionAdmin, "first password") {
		t.Errorf("the setup is not in the attack log: %+v", l.events)
	}
}

func (l *lab) hasEvent(action, reason string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Action == action && strings.Contains(e.Reason, reason) {
			return true
		}
	}
	return false
}

func TestLoginAndLockOut(t *testing.T) {
	l := newLab(t)
	l.setup()
	if w := l.do(req{method: "GET", path: "/", from: officeSrc}); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Errorf("/ without a session: %d %v", w.Code, w.Header())
	}
	session := l.login(adminSrc) // an admin on the wan may log in
	if w := l.do(req{method: "GET", path: "/", from: adminSrc, cookie: session}); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), l.srv.Fingerprint()) {
		t.Errorf("overview: %d %s", w.Code, w.Body)
	}
	for i := range MaxFailures {
		w := l.do(req{method: "POST", path: "/login", from: officeSrc, form: url.Values{"password": {fmt.Sprint("wrong ", i)}}})
		if w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
			t.Fatalf("wrong password %d: %d %v", i, w.Code, w.Result().Cookies())
		}
	}
	// Locked out: even the right password is refused, from that source only.
	if w := l.do(req{method: "POST", path: "/login", from: officeSrc, form: url.Values{"password": {goodPassword}}}); w.Code != http.StatusTooManyRequests {
		t.Errorf("the right password while locked out: %d", w.Code)
	}
	l.login("192.0.2.21:5000")
	if len(l.alerts) != 1 || !strings.Contains(l.alerts[0].Reason, "locked out") || l.alerts[0].Addr != netip.MustParseAddr("192.0.2.20") {
		t.Errorf("lock-out alerts: %+v", l.alerts)
	}
	if !l.hasEvent(store.ActionAlert, "locked out") || !l.hasEvent(store.ActionAdmin, "login refused") {
		t.Errorf("the attack log lacks the lock-out or the refusals: %+v", l.events)
	}
	l.advance(LockOut)
	l.login(officeSrc)
}

func TestGlobalLockOut(t *testing.T) {
	l := newLab(t)
	l.setup()
	for i := range MaxGlobalFailures {
		l.do(req{method: "POST", path: "/login", from: fmt.Sprintf("192.0.2.%d:1", 100+i), form: url.Values{"password": {"wrong"}}})
	}
	if w := l.do(req{method: "POST", path: "/login", from: "192.0.2.200:1", form: url.Values{"password": {goodPassword}}}); w.Code != http.StatusTooManyRequests {
		t.Errorf("a fresh source after %d failures from many: %d", MaxGlobalFailures, w.Code)
	}
}

func TestSessionExpiry(t *testing.T) {
	l := newLab(t)
	session := l.setup()
	open := func() bool {
		return l.do(req{method: "GET", path: "/", from: officeSrc, cookie: session}).Code == http.StatusOK
	}
	l.advance(IdleTimeout - time.Minute)
	if !open() {
		t.Fatal("the session ended before its idle timeout")
	}
	l.advance(IdleTimeout)
	if open() {
		t.Error("the session outlived its idle timeout")
	}
	// Busy, it still ends after the absolute timeout.
	session = l.login(officeSrc)
	for elapsed := time.Duration(0); elapsed < AbsoluteTimeout-20*time.Minute; elapsed += 20 * time.Minute {
		l.advance(20 * time.Minute)
		if !open() {
			t.Fatalf("the session ended after %v of use", elapsed)
		}
	}
	l.advance(20 * time.Minute)
	if open() {
		t.Error("the session outlived its absolute timeout")
	}
}

func TestCSRF(t *testing.T) {
	l := newLab(t)
	session := l.setup()
	token := l.csrf(session)
	for _, c := range []struct {
		name   string
		header map[string]string
		code   int
	}{
		{"missing", nil, http.StatusForbidden},
		{"wrong", map[string]string{"X-CSRF-Token": "forged"}, http.StatusForbidden},
		{"right", map[string]string{"X-CSRF-Token": token}, http.StatusOK},
		{"right, from another site", map[string]string{"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"right, another origin", map[string]string{"X-CSRF-Token": token, "Origin": "https://evil.example"}, http.StatusForbidden},
	} {
		before := l.be.reloads
		w := l.do(req{method: "POST", path: "/v1/reload", from: officeSrc, cookie: session, header: c.header})
		if w.Code != c.code || (l.be.reloads > before) != (c.code == http.StatusOK) {
			t.Errorf("%s CSRF token: %d %s (reloads %d→%d)", c.name, w.Code, w.Body, before, l.be.reloads)
		}
	}
	if !l.hasEvent(store.ActionAdmin, "admin POST /v1/reload (200)") || len(l.eventsWith("/v1/reload")) != 1 {
		t.Errorf("the attack log: %+v", l.events)
	}
	// Logging out takes the form field.
	if w := l.do(req{method: "POST", path: "/logout", from: officeSrc, cookie: session, form: url.Values{"csrf": {"forged"}}}); w.Code != http.StatusForbidden {
		t.Errorf("logout with a forged token: %d", w.Code)
	}
	if w := l.do(req{method: "POST", path: "/logout", from: officeSrc, cookie: session, form: url.Values{"csrf": {token}}}); w.Code != http.StatusSeeOther {
		t.Errorf("logout: %d", w.Code)
	}
	if w := l.do(req{method: "GET", path: "/v1/status", from: officeSrc, cookie: session}); w.Code != http.StatusUnauthorized {
		t.Errorf("the session after logging out: %d", w.Code)
	}
}

func (l *lab) eventsWith(s string) []store.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []store.Event
	for _, e := range l.events {
		if strings.Contains(e.Reason, s) {
			out = append(out, e)
		}
	}
	return out
}

func TestHeaders(t *testing.T) {
	l := newLab(t)
	for _, q := range []req{
		{method: "GET", path: "/login", from: officeSrc},
		{method: "GET", path: "/v1/status", from: officeSrc},
		{method: "GET", path: "/", from: wanSrc},
	} {
		h := l.do(q).Header()
		for k, want := range map[string]string{
			"Content-Security-Policy":   "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
			"X-Frame-Options":           "DENY",
			"X-Content-Type-Options":    "nosniff",
			"Referrer-Policy":           "no-referrer",
			"Strict-Transport-Security": "max-age=31536000",
			"Cache-Control":             "no-store",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s %s from %s: %s = %q, want %q", q.method, q.path, q.from, k, got, want)
			}
		}
	}
}

func TestTokens(t *testing.T) {
	l := newLab(t)
	session := l.setup()
	csrf := l.csrf(session)
	w := l.do(req{method: "POST", path: "/v1/tokens", from: officeSrc, cookie: session, header: map[string]string{"X-CSRF-Token": csrf}, body: `{"name":"laptop"}`})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"secret":"sgt_`) {
		t.Fatalf("token from a session: %d %s", w.Code, w.Body)
	}
	secret := regexp.MustCompile(`"secret":"([^"]+)"`).FindStringSubmatch(w.Body.String())[1]
	bearer := map[string]string{"Authorization": "Bearer " + secret}

	// A token reads and changes, with no CSRF token, from an allowed source.
	if w := l.do(req{method: "GET", path: "/v1/status", from: adminSrc, header: bearer}); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"dynamic"`) {
		t.Errorf("status by token: %d %s", w.Code, w.Body)
	}
	if w := l.do(req{method: "POST", path: "/v1/reload", from: officeSrc, header: bearer}); w.Code != http.StatusOK || !l.hasEvent(store.ActionAdmin, "token:laptop POST /v1/reload") {
		t.Errorf("reload by token: %d %s, log %+v", w.Code, w.Body, l.events)
	}
	// But it makes no token.
	if w := l.do(req{method: "POST", path: "/v1/tokens", from: officeSrc, header: bearer, body: `{"name":"more"}`}); w.Code != http.StatusForbidden {
		t.Errorf("token made by a token: %d %s", w.Code, w.Body)
	}
	for _, bad := range []string{"Bearer sgt_forged", "Bearer " + secret + "x", "Basic YWRtaW46YWRtaW4="} {
		if w := l.do(req{method: "GET", path: "/v1/status", from: officeSrc, header: map[string]string{"Authorization": bad}}); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"error"`) {
			t.Errorf("%q: %d %s", bad, w.Code, w.Body)
		}
	}
	// A token on the wan outside the admin allowlist is refused all the same.
	if w := l.do(req{method: "GET", path: "/v1/status", from: wanSrc, header: bearer}); w.Code != http.StatusForbidden {
		t.Errorf("token from the wan: %d", w.Code)
	}
	toks, _ := l.be.tokens.List(context.Background())
	if len(toks) != 1 || toks[0].LastUsed.IsZero() {
		t.Fatalf("tokens: %+v", toks)
	}
	if w := l.do(req{method: "DELETE", path: "/v1/tokens/" + toks[0].ID, from: officeSrc, cookie: session, header: map[string]string{"X-CSRF-Token": csrf}}); w.Code != http.StatusOK {
		t.Errorf("revoke: %d %s", w.Code, w.Body)
	}
	if w := l.do(req{method: "GET", path: "/v1/status", from: officeSrc, header: bearer}); w.Code != http.StatusUnauthorized {
		t.Errorf("a revoked token: %d", w.Code)
	}
	if w := l.do(req{method: "GET", path: "/v1/status", from: officeSrc}); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("no auth: %d %s", w.Code, w.Body)
	}
}

func TestWANRefusedUnlessAdmin(t *testing.T) {
	l := newLab(t)
	for _, path := range []string{"/", "/login", "/setup", "/v1/status", "/metrics"} {
		if w := l.do(req{method: "GET", path: path, from: wanSrc}); w.Code != http.StatusForbidden {
			t.Errorf("%s from the wan: %d", path, w.Code)
		}
		if w := l.do(req{method: "GET", path: path, from: "[2001:db8:66::1]:443"}); w.Code != http.StatusForbidden {
			t.Errorf("%s from the wan over IPv6: %d", path, w.Code)
		}
	}
	for _, src := range []string{adminSrc, "127.0.0.1:5000", "[::1]:5000", officeSrc} {
		if w := l.do(req{method: "GET", path: "/login", from: src}); w.Code == http.StatusForbidden {
			t.Errorf("/login from %s: %d", src, w.Code)
		}
	}
}

func TestHTTPRedirects(t *testing.T) {
	for _, c := range []struct {
		port       int
		host, want string
	}{
		{443, "sipguard.local", "https://sipguard.local/login?x=1"},
		{443, "192.0.2.2:80", "https://192.0.2.2/login?x=1"},
		{8443, "[2001:db8::2]:80", "https://[2001:db8::2]:8443/login?x=1"},
	} {
		r := httptest.NewRequest("GET", "http://"+c.host+"/login?x=1", nil)
		r.Host = c.host
		w := httptest.NewRecorder()
		RedirectHandler(c.port).ServeHTTP(w, r)
		if w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != c.want {
			t.Errorf("http://%s with https on %d: %d %q, want %q", c.host, c.port, w.Code, w.Header().Get("Location"), c.want)
		}
	}
}

func TestMetricsMount(t *testing.T) {
	l := newLab(t)
	// /metrics answers what the API answers at /v1/metrics, to an admin
	// source without a login.
	w := l.do(req{method: "GET", path: "/metrics", from: adminSrc})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "sipguard_build_info 1") {
		t.Errorf("/metrics from an admin source: %d %s", w.Code, w.Body)
	}
	if w := l.do(req{method: "GET", path: "/metrics", from: officeSrc}); w.Code != http.StatusUnauthorized {
		t.Errorf("/metrics from the office without a token: %d", w.Code)
	}
	if w := l.do(req{method: "GET", path: "/metrics", from: wanSrc}); w.Code == http.StatusOK {
		t.Errorf("/metrics from the wan: %d", w.Code)
	}
}

// Metrics implements api.MetricsBackend with one metric.
func (f *fakeBackend) Metrics() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("sipguard_build_info 1\n"))
	})
}

// A page's form, posted to the pages mounted at /, carries the CSRF
// token; an upload too.
func TestPagesCSRF(t *testing.T) {
	var posted []string
	l := newLab(t)
	l.srv = New(Options{
		Store: l.srv.o.Store, Tokens: l.srv.o.Tokens, Kept: true, Now: l.srv.o.Now, Argon2: l.srv.o.Argon2,
		Sides: l.srv.o.Sides, Audit: l.srv.o.Audit,
		Pages: func(o PageOptions) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					posted = append(posted, r.FormValue("note"))
					http.Redirect(w, r, "/", http.StatusSeeOther)
					return
				}
				fmt.Fprintf(w, `<input type="hidden" name="csrf" value="%s">`, o.CSRFToken(r))
			})
		},
	})
	session := l.setup()
	token := l.csrf(session)
	if w := l.do(req{method: "POST", path: "/lists", from: officeSrc, cookie: session, form: url.Values{"note": {"forged"}}}); w.Code != http.StatusForbidden {
		t.Errorf("a page's form without the token: %d", w.Code)
	}
	if w := l.do(req{method: "POST", path: "/lists", from: officeSrc, cookie: session, form: url.Values{"csrf": {token}, "note": {"office"}}}); w.Code != http.StatusSeeOther {
		t.Errorf("a page's form with the token: %d %s", w.Code, w.Body)
	}
	body := "--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + token + "\r\n--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n" +
		strings.Repeat("x", 100<<10) + "\r\n--b--\r\n"
	w := l.do(req{method: "POST", path: "/update", from: officeSrc, cookie: session, body: body, header: map[string]string{"Content-Type": "multipart/form-data; boundary=b"}})
	if w.Code != http.StatusSeeOther || len(posted) != 2 || posted[0] != "office" || len(posted[1]) != 100<<10 {
		t.Errorf("an upload with the token: %d, posted %d", w.Code, len(posted))
	}
	if !l.hasEvent(store.ActionAdmin, "admin POST /lists (303)") {
		t.Errorf("the page's change is not in the attack log: %+v", l.events)
	}
}
