package web

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// CookieName is the session cookie's: the __Host- prefix makes a browser
// take it only over HTTPS, for this host, path /.
const CookieName = "__Host-sipguard"

// PageOptions is what the dashboard's pages get from the server.
type PageOptions struct {
	// Backend is the daemon the pages read and change.
	Backend api.Backend
	// CSRFToken is the value every form of the page must post as field
	// csrf (or send as header X-CSRF-Token).
	CSRFToken func(*http.Request) string
	// Fingerprint is the certificate's.
	Fingerprint string
	// Tokens are the API tokens.
	Tokens *Tokens
	// Kept says the password and tokens outlive a restart (a state file
	// keeps them).
	Kept bool
}

// Options configure a Server.
type Options struct {
	Log *slog.Logger
	// Backend is what /v1/ serves (the local API, mounted as it is).
	Backend api.Backend
	// Store keeps the password hash; Tokens the API tokens (over the same
	// store). Kept says the store outlives a restart.
	Store  Store
	Tokens *Tokens
	Kept   bool
	// Admin returns the admin allowlist in force: sources that may reach
	// the dashboard from the wan.
	Admin func() []netip.Prefix
	// Sides places a source on the office's side or the wan's.
	Sides Sides
	// Cert is the HTTPS certificate.
	Cert tls.Certificate
	// Audit writes an administrator's action, a refused login or a
	// lock-out to the attack log; Alert tells the notifications of a
	// lock-out. Either may be nil.
	Audit func(store.Event)
	Alert func(store.Event)
	// Pages serves the dashboard's pages at / for a logged-in session;
	// nil serves a plain overview. Its GET /static/ (the stylesheet and
	// the script, public) is served without a session too: the login and
	// first-password pages use the stylesheet.
	Pages func(PageOptions) http.Handler
	// Argon2 hashes new passwords; zero: DefaultArgon2.
	Argon2 Argon2Params
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Server is the dashboard's HTTPS server: its pages, the login, and the
// API under /v1/ for sessions and tokens.
type Server struct {
	o           Options
	fingerprint string
	sessions    *sessions
	limiter     *limiter
	pages       http.Handler
	api         http.Handler
	handler     http.Handler
	hashing     sync.Mutex // one password hash at a time: 64 MiB each
	listening   atomic.Bool
	problem     atomic.Value  // string: why HTTPS is not served
	retry       time.Duration // between tries to bind a port
}

// New returns the server of o.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Store == nil {
		o.Store, o.Kept = &MemoryStore{}, false
	}
	if o.Tokens == nil {
		o.Tokens = NewTokens(o.Store, o.Now)
	}
	if o.Argon2 == (Argon2Params{}) {
		o.Argon2 = DefaultArgon2
	}
	if o.Admin == nil {
		o.Admin = func() []netip.Prefix { return nil }
	}
	if o.Sides == nil {
		o.Sides = SidesFunc(func(context.Context, netip.Addr) Side { return WAN })
	}
	s := &Server{o: o, sessions: newSessions(o.Now), limiter: newLimiter(o.Now), api: api.Handler(o.Backend), retry: retryBind}
	if len(o.Cert.Certificate) > 0 {
		s.fingerprint = Fingerprint(o.Cert.Certificate[0])
	}
	po := PageOptions{Backend: o.Backend, CSRFToken: csrfToken, Fingerprint: s.fingerprint, Tokens: o.Tokens, Kept: o.Kept}
	if o.Pages != nil {
		s.pages = o.Pages(po)
	} else {
		s.pages = overview(po)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /setup", s.setupPage)
	mux.HandleFunc("POST /setup", s.setup)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("/v1/", s.serveAPI)
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /static/", s.static)
	mux.HandleFunc("/", s.servePages)
	s.handler = http.NewCrossOriginProtection().Handler(mux)
	return s
}

// static serves the pages' public assets to anyone the server answers.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, principal{}, s.pages)
}

// Fingerprint is the certificate's, as Fingerprint writes it.
func (s *Server) Fingerprint() string { return s.fingerprint }

// PasswordSet says whether the administrator's password is set.
func (s *Server) PasswordSet() bool {
	h, err := s.o.Store.PasswordHash()
	return err == nil && h != ""
}

// Status is the dashboard's part of the box's status.
func (s *Server) Status() *api.Dashboard {
	d := &api.Dashboard{Fingerprint: s.fingerprint, Listening: s.Listening(), Problem: s.problemOf(), PasswordSet: s.PasswordSet()}
	if !s.o.Kept {
		d.Problem = strings.TrimPrefix(d.Problem+"; no state file: the password and tokens are lost when the daemon stops", "; ")
	}
	return d
}

// EndSessions logs every browser out (after a factory reset).
func (s *Server) EndSessions() { s.sessions.endAll() }

// ServeHTTP serves a request that came over HTTPS: from a source that may
// reach the box, with the security headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header(), true)
	src, ok := source(r)
	if !ok || !s.allowed(r.Context(), src) {
		s.o.Log.Warn("dashboard: request refused: a wan source outside the admin allowlist", "source", r.RemoteAddr, "path", r.URL.Path)
		http.Error(w, "forbidden: the dashboard answers the office side and the admin allowlist only", http.StatusForbidden)
		return
	}
	s.handler.ServeHTTP(w, r)
}

// securityHeaders sets the headers every response carries.
func securityHeaders(h http.Header, tls bool) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if tls {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// source is the request's source address.
func source(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// allowed says whether src may reach the dashboard: the box itself, the
// admin allowlist, or the office side.
func (s *Server) allowed(ctx context.Context, src netip.Addr) bool {
	return src.IsLoopback() || s.admin(src) || s.o.Sides.Side(ctx, src) == LAN
}

// admin says whether src is in the admin allowlist.
func (s *Server) admin(src netip.Addr) bool {
	for _, p := range s.o.Admin() {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// office says whether src is the office side (or the box itself): where
// the first password may be set from.
func (s *Server) office(ctx context.Context, src netip.Addr) bool {
	return src.IsLoopback() || s.o.Sides.Side(ctx, src) == LAN
}

// RedirectHandler answers plain HTTP: every request is sent to the same
// path over HTTPS on port httpsPort.
func RedirectHandler(httpsPort int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header(), false)
		host := r.Host
		if h, _, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
			host = h
		} else if strings.HasPrefix(host, "[") {
			host = host[:strings.Index(host, "]")+1]
		}
		if host == "" || strings.ContainsAny(host, "/\\@ ") {
			host = "sipguard.local"
		}
		if httpsPort != 443 {
			host = fmt.Sprintf("%s:%d", host, httpsPort)
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
}

// audit writes an event of the attack log and the daemon's log.
func (s *Server) audit(action string, src netip.Addr, reason string) {
	s.o.Log.Info("dashboard: "+reason, "source", src)
	if s.o.Audit != nil {
		ev := store.Event{Time: s.o.Now(), Action: action, Reason: reason}
		if src.IsValid() {
			ev.Addr, ev.Source = src, netip.PrefixFrom(src, src.BitLen())
		}
		s.o.Audit(ev)
	}
}
