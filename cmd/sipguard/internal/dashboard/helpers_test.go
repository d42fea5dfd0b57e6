package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

const testCSRF = "csrf-token-of-the-session"

// fakeTokens keeps tokens in memory.
type fakeTokens struct {
	tokens []Token
	n      int
}

func (f *fakeTokens) List(context.Context) ([]Token, error) { return f.tokens, nil }

func (f *fakeTokens) Create(_ context.Context, name string) (string, Token, error) {
	f.n++
	t := Token{ID: fmt.Sprintf("t%d", f.n), Name: name, Created: time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)}
	f.tokens = append(f.tokens, t)
	return fmt.Sprintf("sgt_secret%d", f.n), t, nil
}

func (f *fakeTokens) Revoke(_ context.Context, id string) error {
	for i, t := range f.tokens {
		if t.ID == id {
			f.tokens = append(f.tokens[:i], f.tokens[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no token %q", id)
}

type bench struct {
	t      *testing.T
	h      http.Handler
	b      *fake
	tokens *fakeTokens
	flash  *http.Cookie // the last flash set
}

func newBench(t *testing.T) *bench {
	t.Helper()
	b, tk := newFake(), &fakeTokens{}
	h := New(b, Options{
		CSRFToken:   func(*http.Request) string { return testCSRF },
		Fingerprint: "AB:CD:EF:01",
		Tokens:      tk,
		Version:     "v1.4.0",
		Now:         func() time.Time { return time.Date(2026, 12, 6, 5, 30, 0, 0, time.UTC) },
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	return &bench{t: t, h: h, b: b, tokens: tk}
}

// do serves a request, and checks any HTML page it answers with.
func (bn *bench) do(req *http.Request) *httptest.ResponseRecorder {
	bn.t.Helper()
	if bn.flash != nil {
		req.AddCookie(bn.flash)
		bn.flash = nil
	}
	w := httptest.NewRecorder()
	bn.h.ServeHTTP(w, req)
	for _, c := range w.Result().Cookies() {
		if c.Name == flashCookie && c.MaxAge > 0 {
			bn.flash = c
		}
	}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		checkPage(bn.t, req.URL.String(), w.Body.String())
	}
	return w
}

func (bn *bench) get(path string) *httptest.ResponseRecorder {
	bn.t.Helper()
	return bn.do(httptest.NewRequest(http.MethodGet, path, nil))
}

func (bn *bench) post(path string, form url.Values) *httptest.ResponseRecorder {
	bn.t.Helper()
	form.Set("csrf", testCSRF)
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return bn.do(req)
}

// upload posts a multipart form with one file.
func (bn *bench) upload(path string, fields map[string]string, field, name string, content []byte) *httptest.ResponseRecorder {
	bn.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", testCSRF)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile(field, name)
	_, _ = fw.Write(content)
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return bn.do(req)
}

// redirected checks a POST answered with a redirect to to, and returns
// the page it leads to, which shows the flash message.
func (bn *bench) redirected(w *httptest.ResponseRecorder, to string) string {
	bn.t.Helper()
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != to {
		bn.t.Fatalf("answer %d to %q, want a redirect to %s: %s", w.Code, w.Header().Get("Location"), to, w.Body.String())
	}
	page := bn.get(strings.Split(to, "#")[0])
	if page.Code != http.StatusOK {
		bn.t.Fatalf("%s: %d", to, page.Code)
	}
	return page.Body.String()
}

// voidElements have no end tag.
var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// inlineHandler matches an event handler attribute, such as onclick.
var inlineHandler = regexp.MustCompile(`(?i)^on[a-z]+$`)

// checkPage checks a page is well-formed (every element closed, in
// order, ids unique), has no inline script or style, and that every form
// that posts carries the session's CSRF token.
func checkPage(t *testing.T, where, page string) {
	t.Helper()
	for _, p := range pageProblems(page) {
		t.Errorf("%s: %s", where, p)
	}
}

// pageProblems lists what checkPage finds wrong with a page.
func pageProblems(page string) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	z := html.NewTokenizer(strings.NewReader(page))
	var stack []string
	ids := map[string]bool{}
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				bad("%v", z.Err())
			}
			break
		}
		tok := z.Token()
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			if id := attr(tok, "id"); id != "" {
				if ids[id] {
					bad("two elements with id %q", id)
				}
				ids[id] = true
			}
			for _, a := range tok.Attr {
				if a.Key == "style" || inlineHandler.MatchString(a.Key) {
					bad("inline %s= on <%s>", a.Key, tok.Data)
				}
			}
			if tok.Data == "style" {
				bad("a <style> element")
			}
			if tok.Data == "script" && attr(tok, "src") == "" {
				bad("an inline <script>")
			}
			if tt == html.StartTagToken && !voidElements[tok.Data] {
				stack = append(stack, tok.Data)
			}
		case html.EndTagToken:
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				bad("</%s> closes %v", tok.Data, stack)
				return out
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		bad("left open: %v", stack)
	}
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return append(out, err.Error())
	}
	for _, f := range findAll(doc, "form") {
		if !strings.EqualFold(attr(f.Token(), "method"), "post") {
			continue
		}
		var csrf []string
		for _, in := range findAll(f.Node, "input") {
			if attr(in.Token(), "name") == "csrf" {
				csrf = append(csrf, attr(in.Token(), "value"))
			}
		}
		if len(csrf) != 1 || csrf[0] != testCSRF {
			bad("the form posting to %s carries csrf %q", attr(f.Token(), "action"), csrf)
		}
	}
	return out
}

func attr(tok html.Token, key string) string {
	for _, a := range tok.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

type node struct{ *html.Node }

func (n node) Token() html.Token { return html.Token{Data: n.Data, Attr: n.Attr} }

func findAll(n *html.Node, tag string) []node {
	var out []node
	if n.Type == html.ElementNode && n.Data == tag {
		out = append(out, node{n})
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = append(out, findAll(c, tag)...)
	}
	return out
}

// text is a node's text, its spaces collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func parse(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// templates returns every embedded template's text.
func templates(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(templateFS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// findByID finds the element with the id.
func findByID(n *html.Node, id string) *html.Node {
	if n == nil {
		return nil
	}
	if n.Type == html.ElementNode && attr(node{n}.Token(), "id") == id {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := findByID(c, id); f != nil {
			return f
		}
	}
	return nil
}

// formOf makes form values of key, value pairs.
func formOf(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}
