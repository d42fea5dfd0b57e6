package feeds

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// feedServer serves one text feed whose body, validators and failure mode
// the test changes between refreshes, and records the requests.
type feedServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    string
	etag    string
	lastMod string
	status  int           // answer with this status instead of the body when not 0
	delay   time.Duration // before answering
	gz      bool          // Content-Encoding: gzip
	reqs    []*http.Request
	at      []time.Time // when each request came
}

func newFeedServer(t *testing.T, body string) *feedServer {
	s := &feedServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *feedServer) set(f func(s *feedServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *feedServer) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

func (s *feedServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.at = append(s.at, time.Now())
	body, etag, lastMod, status, delay, gz := s.body, s.etag, s.lastMod, s.status, s.delay, s.gz
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		http.Error(w, "broken", status)
		return
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if lastMod != "" {
		w.Header().Set("Last-Modified", lastMod)
		if etag == "" && r.Header.Get("If-Modified-Since") == lastMod {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if gz {
		w.Header().Set("Content-Encoding", "gzip")
		body = gzipped(body)
	}
	w.Write([]byte(body))
}

func gzipped(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.String()
}

func testOptions() Options {
	return Options{AllowShortIntervals: true, Timeout: 2 * time.Second, APIBANPageDelay: -1, Jitter: -1}
}

func newManager(t *testing.T, opts Options, feeds ...Feed) *Manager {
	t.Helper()
	m, err := New(feeds, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func textFeed(name, url string) Feed {
	return Feed{Name: name, URL: url, Format: Text, Enabled: true}
}

func all(m *Manager) []string {
	var out []string
	for p := range m.All() {
		out = append(out, p.String())
	}
	return out
}

func status(t *testing.T, m *Manager, name string) Status {
	t.Helper()
	for _, s := range m.Status() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for %q", name)
	return Status{}
}

func mustRefresh(t *testing.T, m *Manager, name string, wantChanged bool) {
	t.Helper()
	changed, err := m.Refresh(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if changed != wantChanged {
		t.Fatalf("changed %v, want %v", changed, wantChanged)
	}
}

const goodFeed = "# test feed\n198.51.100.0/24\n203.0.113.7 ; note\n10.0.0.1\n2001:db8::/48\n"

var goodEntries = []string{"198.51.100.0/24", "203.0.113.7/32", "2001:db8::/48"}

func TestRefreshText(t *testing.T) {
	s := newFeedServer(t, goodFeed)
	m := newManager(t, testOptions(), textFeed("test", s.URL))
	mustRefresh(t, m, "test", true)
	if got := all(m); !slices.Equal(got, goodEntries) {
		t.Errorf("All %q, want %q", got, goodEntries)
	}
	st := status(t, m, "test")
	if st.V4 != 2 || st.V6 != 1 || st.Lines != 4 || st.Ignored != 1 || st.IgnoredNote != IgnoredNote ||
		st.Bytes != int64(len(goodFeed)) || st.LastError != "" || st.LastSuccess.IsZero() || st.LastChange.IsZero() {
		t.Errorf("status %+v", st)
	}
	if ua := s.requests()[0].Header.Get("User-Agent"); ua != "sipguard" {
		t.Errorf("User-Agent %q", ua)
	}
	// The same content again: a success, but nothing to reload.
	mustRefresh(t, m, "test", false)
}

func TestNotModified(t *testing.T) {
	for _, tt := range []struct {
		name          string
		etag, lastMod string
		header, value string
	}{
		{"etag", `"v1"`, "", "If-None-Match", `"v1"`},
		{"last-modified", "", "Wed, 25 Nov 2026 09:00:00 GMT", "If-Modified-Since", "Wed, 25 Nov 2026 09:00:00 GMT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newFeedServer(t, goodFeed)
			s.set(func(s *feedServer) { s.etag, s.lastMod = tt.etag, tt.lastMod })
			now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
			opts := testOptions()
			opts.Now = func() time.Time { return now }
			m := newManager(t, opts, textFeed("test", s.URL))
			mustRefresh(t, m, "test", true)
			st := status(t, m, "test")
			if st.ETag != tt.etag || st.LastModified != tt.lastMod {
				t.Errorf("validators %q %q", st.ETag, st.LastModified)
			}
			now = now.Add(time.Hour)
			mustRefresh(t, m, "test", false)
			reqs := s.requests()
			if got := reqs[1].Header.Get(tt.header); got != tt.value {
				t.Errorf("%s %q, want %q", tt.header, got, tt.value)
			}
			if reqs[0].Header.Get(tt.header) != "" {
				t.Errorf("first request sent %s", tt.header)
			}
			st = status(t, m, "test")
			if !st.LastSuccess.Equal(now) || st.LastChange.Equal(now) || st.V4 != 2 {
				t.Errorf("after 304: %+v", st)
			}
			if got := all(m); !slices.Equal(got, goodEntries) {
				t.Errorf("All %q after 304", got)
			}
		})
	}
}

func TestGzip(t *testing.T) {
	t.Run("content-encoding", func(t *testing.T) {
		s := newFeedServer(t, goodFeed)
		s.set(func(s *feedServer) { s.gz = true })
		m := newManager(t, testOptions(), textFeed("test", s.URL))
		mustRefresh(t, m, "test", true)
		if got := all(m); !slices.Equal(got, goodEntries) {
			t.Errorf("All %q", got)
		}
		if st := status(t, m, "test"); st.Bytes != int64(len(goodFeed)) {
			t.Errorf("bytes %d, want the decompressed %d", st.Bytes, len(goodFeed))
		}
	})
	t.Run(".gz file", func(t *testing.T) {
		s := newFeedServer(t, gzipped(goodFeed))
		m := newManager(t, testOptions(), textFeed("test", s.URL+"/list.gz"))
		mustRefresh(t, m, "test", true)
		if got := all(m); !slices.Equal(got, goodEntries) {
			t.Errorf("All %q", got)
		}
	})
}

// refuse checks that a refresh fails with an error holding want and
// leaves the previous content in force.
func refuse(t *testing.T, m *Manager, name, want string) {
	t.Helper()
	before := all(m)
	changed, err := m.Refresh(context.Background(), name)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %v, want %q", err, want)
	}
	if changed {
		t.Error("changed after a failed refresh")
	}
	if got := all(m); !slices.Equal(got, before) {
		t.Errorf("All %q after failure, want the previous %q", got, before)
	}
	st := status(t, m, name)
	if st.LastError != err.Error() || st.Failures == 0 {
		t.Errorf("status error %q failures %d", st.LastError, st.Failures)
	}
}

func TestFailuresKeepPrevious(t *testing.T) {
	many := strings.Repeat("198.51.100.1\n", 300) + strings.Repeat("garbage\n", 4)
	for _, tt := range []struct {
		name string
		set  func(s *feedServer)
		opts func(o *Options)
		feed func(f *Feed)
		want string
	}{
		{name: "server error", set: func(s *feedServer) { s.status = 503 }, want: "HTTP 503"},
		{name: "not found", set: func(s *feedServer) { s.status = 404 }, want: "HTTP 404"},
		{name: "timeout", set: func(s *feedServer) { s.delay = time.Second }, opts: func(o *Options) { o.Timeout = 50 * time.Millisecond }, want: "deadline exceeded"},
		{name: "bad lines over the threshold", set: func(s *feedServer) { s.body = many }, want: "4 of 304 lines are not addresses or networks (first at lines 301, 302, 303, 304)"},
		{name: "html page", set: func(s *feedServer) { s.body = "<html>\n<body>maintenance</body>\n</html>\n" }, want: "3 of 3 lines are not"},
		{name: "empty", set: func(s *feedServer) { s.body = "# nothing today\n" }, want: "no entries to block"},
		{name: "only office networks", set: func(s *feedServer) { s.body = "10.0.0.0/8\n192.168.0.0/16\n" }, want: "2 ignored"},
		{name: "bytes (Content-Length)", set: func(s *feedServer) { s.body = strings.Repeat("198.51.100.1\n", 100) }, feed: func(f *Feed) { f.MaxBytes = 1000 }, want: "1300 bytes: larger than the limit of 1000 bytes"},
		{name: "bytes (gzip)", set: func(s *feedServer) { s.body = strings.Repeat("198.51.100.1\n", 1000); s.gz = true }, feed: func(f *Feed) { f.MaxBytes = 1000 }, want: "larger than the limit"},
		{name: "entries", set: func(s *feedServer) { s.body = "198.51.100.1\n198.51.100.2\n198.51.100.3\n198.51.100.4\n" }, feed: func(f *Feed) { f.MaxEntries = 3 }, want: "line 4: too many entries (limit 3)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newFeedServer(t, goodFeed)
			opts := testOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			f := textFeed("test", s.URL)
			if tt.feed != nil {
				tt.feed(&f)
			}
			if f.MaxBytes != 0 {
				f.MaxBytes = max(f.MaxBytes, int64(len(goodFeed)))
			}
			m := newManager(t, opts, f)
			mustRefresh(t, m, "test", true)
			s.set(tt.set)
			refuse(t, m, "test", tt.want)
			refuse(t, m, "test", tt.want)
			if st := status(t, m, "test"); st.Failures != 2 {
				t.Errorf("failures %d, want 2", st.Failures)
			}
			s.set(func(s *feedServer) { s.body, s.status, s.delay, s.gz = goodFeed, 0, 0, false })
			mustRefresh(t, m, "test", false)
			if st := status(t, m, "test"); st.Failures != 0 || st.LastError != "" {
				t.Errorf("after recovery: %+v", st)
			}
		})
	}
}

func TestBadLinesUnderThreshold(t *testing.T) {
	body := strings.Repeat("198.51.100.1\n", 500) + "garbage\n203.0.113.1/24\n" + strings.Repeat("203.0.113.2\n", 500) + "oops\n"
	s := newFeedServer(t, body)
	m := newManager(t, testOptions(), textFeed("test", s.URL))
	mustRefresh(t, m, "test", true)
	st := status(t, m, "test")
	if st.BadLines != 3 || !slices.Equal(st.BadLineNos, []int{501, 502, 1003}) || st.V4 != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestStreamingByteLimit(t *testing.T) {
	// No Content-Length: the limit stops the stream itself.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 1000 {
			w.Write([]byte("198.51.100.1\n"))
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	f := textFeed("test", srv.URL)
	f.MaxBytes = 5000
	m := newManager(t, testOptions(), f)
	if _, err := m.Refresh(context.Background(), "test"); !errors.Is(err, errTooLarge) {
		t.Fatalf("err %v, want too large", err)
	}
}

func TestAllMergesEnabledFeeds(t *testing.T) {
	a := newFeedServer(t, "203.0.113.0/24\n198.51.100.5\n2001:db8:1::/48\n")
	b := newFeedServer(t, "203.0.113.77\n198.51.100.0/24\n2001:db8::/32\n192.0.2.1\n")
	c := newFeedServer(t, "192.0.2.200\n")
	fc := textFeed("c", c.URL)
	fc.Enabled = false
	m := newManager(t, testOptions(), textFeed("a", a.URL), textFeed("b", b.URL), fc)
	for _, name := range []string{"a", "b", "c"} {
		mustRefresh(t, m, name, true)
	}
	want := []string{"192.0.2.1/32", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"}
	for range 3 {
		if got := all(m); !slices.Equal(got, want) {
			t.Fatalf("All %q, want %q", got, want)
		}
	}
	// Enabling c keeps its content; changing a's URL drops a's.
	fa, fb := textFeed("a", a.URL+"/other"), textFeed("b", b.URL)
	fc.Enabled = true
	if err := m.SetFeeds([]Feed{fc, fb, fa}); err != nil {
		t.Fatal(err)
	}
	want = []string{"192.0.2.1/32", "192.0.2.200/32", "198.51.100.0/24", "203.0.113.77/32", "2001:db8::/32"}
	if got := all(m); !slices.Equal(got, want) {
		t.Errorf("All %q, want %q", got, want)
	}
	var names []string
	for _, s := range m.Status() {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"c", "b", "a"}) {
		t.Errorf("status order %q", names)
	}
	if st := status(t, m, "a"); st.V4 != 0 || !st.LastSuccess.IsZero() {
		t.Errorf("a kept state across a URL change: %+v", st)
	}
}

func TestNewChecks(t *testing.T) {
	ok := Feed{Name: "x", URL: "https://example.com/list.txt", Format: Text, Enabled: true}
	for _, tt := range []struct {
		name  string
		edit  func(f *Feed)
		feeds int
		want  string
	}{
		{"no name", func(f *Feed) { f.Name = "" }, 1, "no name"},
		{"twice", func(f *Feed) {}, 2, "listed twice"},
		{"not http", func(f *Feed) { f.URL = "ftp://example.com/x" }, 1, "not an http or https URL"},
		{"format", func(f *Feed) { f.Format = "csv" }, 1, `unknown format "csv"`},
		{"apiban without key", func(f *Feed) { f.Format = APIBAN }, 1, "needs an API key"},
		{"short interval", func(f *Feed) { f.Interval = time.Minute }, 1, "shorter than 10m0s"},
		{"negative", func(f *Feed) { f.MaxBytes = -1 }, 1, "negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := ok
			tt.edit(&f)
			_, err := New(slices.Repeat([]Feed{f}, tt.feeds), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := New([]Feed{ok}, Options{}); err != nil {
		t.Error(err)
	}
	if _, err := (&Manager{}).Refresh(context.Background(), "nope"); !errors.Is(err, ErrUnknownFeed) {
		t.Errorf("unknown feed: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	for _, key := range []string{"", "abc123"} {
		d := Defaults(key)
		if _, err := New(d, Options{}); err != nil {
			t.Fatal(err)
		}
		for _, f := range d {
			if want := f.Format != APIBAN || key != ""; f.Enabled != want {
				t.Errorf("key %q: %s enabled %v", key, f.Name, f.Enabled)
			}
			if f.Interval < time.Hour {
				t.Errorf("%s polls every %v", f.Name, f.Interval)
			}
		}
	}
}
