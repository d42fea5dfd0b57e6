package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// principal is who a request acts for: a session, or a token.
type principal struct {
	session *session
	token   *api.Token
}

func (p principal) who() string {
	if p.token != nil {
		return "token:" + p.token.Name
	}
	return "admin"
}

type ctxKey struct{}

// csrfToken is the CSRF token of the request's session; "" without one.
func csrfToken(r *http.Request) string {
	if p, ok := r.Context().Value(ctxKey{}).(principal); ok && p.session != nil {
		return p.session.csrf
	}
	return ""
}

// safe says whether a method changes nothing.
func safe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// sessionOf returns the request's live session, or nil.
func (s *Server) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil
	}
	return s.sessions.get(c.Value)
}

// csrfOK says whether a request of session ss carries its CSRF token, in
// the header or the form field csrf.
func csrfOK(r *http.Request, ss *session) bool {
	if t := r.Header.Get("X-CSRF-Token"); t != "" {
		return ss.checkCSRF(t)
	}
	limit := int64(maxForm)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		limit = api.MaxBundle // an update bundle or a backup, uploaded from a page
	}
	r.Body = http.MaxBytesReader(nil, r.Body, limit)
	return ss.checkCSRF(r.PostFormValue("csrf"))
}

// maxForm bounds a form's body.
const maxForm = 64 << 10

// authenticate returns who the request acts for: a bearer token, or a
// session whose changes carry its CSRF token. A refusal is the message
// and status to answer with.
func (s *Server) authenticate(r *http.Request) (principal, int, string) {
	if h := r.Header.Get("Authorization"); h != "" {
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return principal{}, http.StatusUnauthorized, "unsupported authorization: want Bearer <token>"
		}
		tok, ok := s.o.Tokens.Check(strings.TrimSpace(secret))
		if !ok {
			return principal{}, http.StatusUnauthorized, "unknown or revoked token"
		}
		return principal{token: &tok}, 0, ""
	}
	ss := s.sessionOf(r)
	if ss == nil {
		return principal{}, http.StatusUnauthorized, "not logged in: log in to the dashboard, or send Authorization: Bearer <token>"
	}
	if !safe(r.Method) && !csrfOK(r, ss) {
		return principal{}, http.StatusForbidden, "missing or wrong CSRF token"
	}
	return principal{session: ss}, 0, ""
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// act serves r for p with h, and writes a change that succeeded to the
// attack log.
func (s *Server) act(w http.ResponseWriter, r *http.Request, p principal, h http.Handler) {
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, p))
	if safe(r.Method) {
		h.ServeHTTP(w, r)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	h.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status < 400 {
		src, _ := source(r)
		s.audit(store.ActionAdmin, src, fmt.Sprintf("%s %s %s (%d)", p.who(), r.Method, r.URL.Path, rec.status))
	}
}

// apiError answers a refused API request as the API does.
func apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// serveAPI serves /v1/ to a token or a session.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	p, code, msg := s.authenticate(r)
	if code != 0 {
		apiError(w, code, msg)
		return
	}
	if p.token != nil && r.Method == http.MethodPost && r.URL.Path == "/v1/tokens" {
		apiError(w, http.StatusForbidden, "a token cannot make tokens: make them in the dashboard or with sipguard token create on the box")
		return
	}
	limit := int64(1 << 20)
	switch r.URL.Path {
	case "/v1/update":
		limit = api.MaxBundle
	case "/v1/restore":
		limit = api.MaxBackup
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	s.act(w, r, p, s.api)
}

// metrics serves the API's metrics at /metrics to an admin-allowlisted
// source (a monitoring server on the wan), a token or a session.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	src, _ := source(r)
	p := principal{}
	if !s.admin(src) {
		var code int
		var msg string
		if p, code, msg = s.authenticate(r); code != 0 {
			apiError(w, code, msg)
			return
		}
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = "/v1/metrics", ""
	s.act(w, r2, p, s.api)
}

// servePages serves the dashboard's pages to a session; others go to the
// login, or to the first password's page.
func (s *Server) servePages(w http.ResponseWriter, r *http.Request) {
	ss := s.sessionOf(r)
	if ss == nil {
		if !s.PasswordSet() {
			http.Redirect(w, r, "/setup", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !safe(r.Method) && !csrfOK(r, ss) {
		http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
		return
	}
	s.act(w, r, principal{session: ss}, s.pages)
}

// startSession logs the browser in.
func (s *Server) startSession(w http.ResponseWriter) {
	ss := s.sessions.start()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: ss.id, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(AbsoluteTimeout / time.Second)})
}

// verify checks a password against the one set, one hash at a time.
func (s *Server) verify(pw string) (bool, error) {
	hash, err := s.o.Store.PasswordHash()
	if err != nil || hash == "" {
		return false, errors.Join(errors.New("no password is set"), err)
	}
	s.hashing.Lock()
	defer s.hashing.Unlock()
	return VerifyPassword(pw, hash)
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if !s.PasswordSet() {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	render(w, http.StatusOK, loginTmpl, pageData{Title: "Log in", Kept: s.o.Kept})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	src, _ := source(r)
	if until := s.limiter.lockedUntil(src); !until.IsZero() {
		w.Header().Set("Retry-After", fmt.Sprint(int(until.Sub(s.o.Now()).Seconds())+1))
		render(w, http.StatusTooManyRequests, loginTmpl, pageData{Title: "Log in", Kept: s.o.Kept,
			Error: fmt.Sprintf("Too many failed logins: try again after %s.", until.Local().Format("15:04"))})
		return
	}
	if !s.PasswordSet() {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	ok, err := s.verify(r.PostFormValue("password"))
	if err != nil {
		s.o.Log.Error("dashboard: login", "err", err)
	}
	if !ok {
		s.refused(src)
		render(w, http.StatusUnauthorized, loginTmpl, pageData{Title: "Log in", Kept: s.o.Kept, Error: "Wrong password."})
		return
	}
	s.limiter.succeed(src)
	s.startSession(w)
	s.audit(store.ActionAdmin, src, "admin logged in to the dashboard")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// refused counts a failed login of src, and raises the lock-outs it
// makes.
func (s *Server) refused(a netip.Addr) {
	s.audit(store.ActionAdmin, a, "dashboard login refused: wrong password")
	one, all := s.limiter.fail(a)
	for _, l := range []struct {
		on     bool
		reason string
	}{
		{one, fmt.Sprintf("dashboard login locked out for %v: %d wrong passwords from the source", LockOut, MaxFailures)},
		{all, fmt.Sprintf("dashboard login locked out for everyone for %v: %d wrong passwords in %v", LockOut, MaxGlobalFailures, FailureWindow)},
	} {
		if !l.on {
			continue
		}
		s.o.Log.Warn("dashboard: "+l.reason, "source", a)
		ev := store.Event{Time: s.o.Now(), Action: store.ActionAlert, Reason: l.reason, Addr: a}
		if a.IsValid() {
			ev.Source = netip.PrefixFrom(a, a.BitLen())
		}
		if s.o.Audit != nil {
			s.o.Audit(ev)
		}
		if s.o.Alert != nil {
			s.o.Alert(ev)
		}
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	ss := s.sessionOf(r)
	if ss == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !csrfOK(r, ss) {
		http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
		return
	}
	s.sessions.end(ss.id)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	src, _ := source(r)
	s.audit(store.ActionAdmin, src, "admin logged out of the dashboard")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) setupPage(w http.ResponseWriter, r *http.Request) {
	if s.PasswordSet() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	src, _ := source(r)
	if !s.office(r.Context(), src) {
		render(w, http.StatusForbidden, setupTmpl, pageData{Title: "First password", Kept: s.o.Kept, Forbidden: true})
		return
	}
	render(w, http.StatusOK, setupTmpl, pageData{Title: "First password", Kept: s.o.Kept, Min: MinPassword})
}

func (s *Server) setup(w http.ResponseWriter, r *http.Request) {
	if s.PasswordSet() {
		http.Error(w, "a password is already set: log in, or reset the box to its factory settings to set a new one", http.StatusConflict)
		return
	}
	src, _ := source(r)
	if !s.office(r.Context(), src) {
		render(w, http.StatusForbidden, setupTmpl, pageData{Title: "First password", Kept: s.o.Kept, Forbidden: true})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	pw, again := r.PostFormValue("password"), r.PostFormValue("again")
	fail := func(msg string) {
		render(w, http.StatusBadRequest, setupTmpl, pageData{Title: "First password", Kept: s.o.Kept, Min: MinPassword, Error: msg})
	}
	if pw != again {
		fail("The two passwords differ.")
		return
	}
	if err := CheckPolicy(pw); err != nil {
		fail(upperFirst(err.Error()) + ".")
		return
	}
	s.hashing.Lock()
	hash, err := HashPassword(pw, s.o.Argon2)
	s.hashing.Unlock()
	if err == nil {
		err = s.o.Store.SetPasswordHash(hash, true)
	}
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			http.Error(w, "a password is already set: log in", http.StatusConflict)
			return
		}
		s.o.Log.Error("dashboard: password not set", "err", err)
		http.Error(w, "the password could not be stored: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.startSession(w)
	s.audit(store.ActionAdmin, src, "admin set the dashboard's first password")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
