package web

import (
	"net/http"
	"strings"
	"testing"
)

// The login and first-password pages are styled by the pages' own
// stylesheet, which is served without a session to the sources the server
// answers; the rest of the pages still need one.
func TestStaticWithoutSession(t *testing.T) {
	l := newLab(t)
	l.srv = New(Options{
		Store: l.srv.o.Store, Tokens: l.srv.o.Tokens, Kept: true, Now: l.srv.o.Now, Argon2: l.srv.o.Argon2,
		Sides: l.srv.o.Sides, Audit: l.srv.o.Audit,
		Pages: func(PageOptions) http.Handler {
			mux := http.NewServeMux()
			mux.HandleFunc("GET /static/style.css", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/css")
				_, _ = w.Write([]byte("body { margin: 0 }"))
			})
			mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("the overview")) })
			return mux
		},
	})
	for _, path := range []string{"/setup", "/login"} {
		if path == "/login" {
			l.setup()
		}
		w := l.do(req{method: "GET", path: path, from: officeSrc})
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<link rel="stylesheet" href="/static/style.css">`) {
			t.Errorf("%s: %d, no stylesheet:\n%s", path, w.Code, w.Body)
		}
		if strings.Contains(w.Body.String(), "style=") || strings.Contains(w.Body.String(), "<style") {
			t.Errorf("%s has inline style", path)
		}
	}
	if w := l.do(req{method: "GET", path: "/static/style.css", from: officeSrc}); w.Code != http.StatusOK || w.Body.String() != "body { margin: 0 }" {
		t.Errorf("the stylesheet without a session: %d %s", w.Code, w.Body)
	}
	if w := l.do(req{method: "GET", path: "/", from: officeSrc}); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Errorf("a page without a session: %d %v", w.Code, w.Header())
	}
	if w := l.do(req{method: "GET", path: "/static/style.css", from: wanSrc}); w.Code != http.StatusForbidden {
		t.Errorf("the stylesheet to a wan source outside the admin allowlist: %d", w.Code)
	}
}
