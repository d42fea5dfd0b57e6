package dashboard

import (
	"context"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// Backend is the running daemon as the pages see it: the API's backend,
// its configuration file and its attack log's feed.
type Backend interface {
	api.Backend
	api.ConfigBackend
	api.EventsBackend
}

// Token is an API token as the tokens page lists it; its secret is shown
// once, when it is created, and never stored.
type Token struct {
	ID       string
	Name     string
	Created  time.Time
	LastUsed time.Time // zero: never used
}

// Tokens keeps the API tokens (the web server's).
type Tokens interface {
	List(ctx context.Context) ([]Token, error)
	// Create makes a token and returns its secret, shown once.
	Create(ctx context.Context, name string) (secret string, t Token, err error)
	Revoke(ctx context.Context, id string) error
}

// Options are what the pages need from the web server.
type Options struct {
	// CSRFToken returns the request's session's CSRF token: every form
	// posts it as the field csrf.
	CSRFToken func(*http.Request) string
	// Fingerprint is the HTTPS certificate's SHA-256 fingerprint, for the
	// remote command line to pin.
	Fingerprint string
	// Tokens are the API tokens; nil: the tokens page says there are none
	// to manage.
	Tokens Tokens
	// Version is the running firmware's version.
	Version string
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Log records each change made through the pages (slog.Default if
	// nil).
	Log *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// server serves the pages.
type server struct {
	b     Backend
	o     Options
	pages map[string]*template.Template
}

// New returns the handler of the pages, to be mounted at / for signed-in
// sessions.
func New(b Backend, o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.CSRFToken == nil {
		o.CSRFToken = func(*http.Request) string { return "" }
	}
	s := &server{b: b, o: o, pages: parsePages()}
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.overview)
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("POST /tamper/ack", s.ackTamper)
	mux.HandleFunc("GET /bans", s.bans)
	mux.HandleFunc("POST /bans/unblock", s.unblock)
	mux.HandleFunc("GET /lists/{list}", s.list)
	mux.HandleFunc("POST /lists/{list}/add", s.listAdd)
	mux.HandleFunc("POST /lists/{list}/delete", s.listDelete)
	mux.HandleFunc("POST /lists/{list}/clear", s.listClear)
	mux.HandleFunc("POST /lists/{list}/import", s.listImport)
	mux.HandleFunc("GET /lists/{list}/export", s.listExport)
	mux.HandleFunc("GET /settings", s.settings)
	mux.HandleFunc("POST /settings", s.settingsSave)
	mux.HandleFunc("POST /settings/notify/test", s.notifyTest)
	mux.HandleFunc("POST /settings/feeds/refresh", s.feedsRefresh)
	mux.HandleFunc("POST /settings/geoip/update", s.geoipUpdate)
	mux.HandleFunc("GET /firmware", s.firmware)
	mux.HandleFunc("POST /firmware/update", s.firmwareUpdate)
	mux.HandleFunc("POST /firmware/reboot", s.reboot)
	mux.HandleFunc("GET /tokens", s.tokens)
	mux.HandleFunc("POST /tokens", s.tokenCreate)
	mux.HandleFunc("POST /tokens/revoke", s.tokenRevoke)
	mux.HandleFunc("GET /backup", s.backup)
	mux.HandleFunc("POST /backup/download", s.backupDownload)
	mux.HandleFunc("POST /backup/restore", s.restore)
	return mux
}

// parsePages parses each page's template over the layout.
func parsePages() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err) // a build error: the pattern is constant
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, n))
	}
	return out
}

// page is what the layout shows around every page's content.
type page struct {
	Title   string
	Nav     string // the menu entry lit
	CSRF    string
	Flash   *flash
	Tamper  []string // the tamper warning not yet acknowledged
	Version string
	Path    string // the page's, for forms that come back to it
	Data    any    // the page's own
}

// render writes a page with status code.
func (s *server) render(w http.ResponseWriter, r *http.Request, code int, name, title string, data any) {
	p := page{Title: title, Nav: name, CSRF: s.o.CSRFToken(r), Flash: takeFlash(w, r), Version: s.o.Version, Path: r.URL.Path, Data: data}
	if f, err := s.b.Firmware(r.Context()); err == nil && !f.Acknowledged {
		p.Tamper = f.Tamper
	}
	t, ok := s.pages[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.o.Log.Error("dashboard: page", "page", name, "err", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, buf.String())
}

// failed shows an error that is no one field's: the backend failed.
func (s *server) failed(w http.ResponseWriter, r *http.Request, what string, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, api.ErrBadRequest) {
		code = http.StatusBadRequest
	}
	s.render(w, r, code, "error", what, fmt.Sprintf("%s: %s", what, message(err)))
}

// done logs a change and redirects to to with a flash message.
func (s *server) done(w http.ResponseWriter, r *http.Request, to, msg string, args ...any) {
	s.o.Log.Info("dashboard change", append([]any{"done", msg}, args...)...)
	setFlash(w, flash{OK: true, Text: msg})
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// refused redirects to to with a flash message saying what was refused.
func (s *server) refused(w http.ResponseWriter, r *http.Request, to, msg string) {
	setFlash(w, flash{Text: msg})
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// flash is a one-time message shown at the top of the next page.
type flash struct {
	OK   bool
	Text string
}

const flashCookie = "sipguard-flash"

func setFlash(w http.ResponseWriter, f flash) {
	v := "e"
	if f.OK {
		v = "o"
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(v + f.Text)),
		Path: "/", MaxAge: 60, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// takeFlash reads the flash message, if any, and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) == 0 {
		return nil
	}
	return &flash{OK: b[0] == 'o', Text: string(b[1:])}
}

var funcs = template.FuncMap{
	"when": when,
	"left": func(d time.Duration) string {
		if d <= 0 {
			return "—"
		}
		return d.Round(time.Second).String()
	},
	"join": strings.Join,
	"orDash": func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	},
}

// when writes a time in the box's time zone, or a dash for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// message is an error as a page shows it: without the API's "bad
// request" mark, which the page says in its own words.
func message(err error) string {
	m := err.Error()
	for _, mark := range []string{api.ErrBadRequest.Error() + ": ", api.ErrBadRequest.Error() + "\n"} {
		m = strings.TrimPrefix(m, mark)
	}
	return m
}
