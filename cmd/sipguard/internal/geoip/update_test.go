package geoip

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// feed is a download server: it serves files by path with ETag and
// Last-Modified (so conditional requests get 304), counts full downloads,
// and can require basic auth.
type feed struct {
	mu        sync.Mutex
	files     map[string][]byte // by request URI
	modified  time.Time
	user      string
	pass      string
	hook      func(w http.ResponseWriter, r *http.Request) bool // true: handled
	downloads atomic.Int32                                      // 200 answers with a body
	requests  atomic.Int32
}

func newFeed(t *testing.T) (*feed, *httptest.Server) {
	f := &feed{files: map[string][]byte{}, modified: testBuilt}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *feed) set(uri string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[uri] = b
	f.modified = f.modified.Add(time.Hour)
}

func (f *feed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if f.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.pass {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	if f.hook != nil && f.hook(w, r) {
		return
	}
	f.mu.Lock()
	b, ok := f.files[r.URL.RequestURI()]
	mod := f.modified
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(b)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", mod, bytes.NewReader(b))
	if cw.code == http.StatusOK {
		f.downloads.Add(1)
	}
}

type countingWriter struct {
	http.ResponseWriter
	code int
}

func (c *countingWriter) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.ResponseWriter.Write(b)
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarball is what MaxMind serves: a folder holding the database and notes.
func tarball(t testing.TB, name string, db []byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := "GeoLite2-Country_20261103/"
	files := []struct {
		name string
		body []byte
	}{
		{dir + "COPYRIGHT.txt", []byte("Database and Contents Copyright (c)\n")},
		{dir + "LICENSE.txt", []byte("licence\n")},
		{dir + name, db},
	}
	if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return gz(t, buf.Bytes())
}

func sha256File(b []byte, name string) []byte {
	sum := sha256.Sum256(b)
	return []byte(hex.EncodeToString(sum[:]) + "  " + name + "\n")
}

// install puts old as the current database and returns its path.
func install(t *testing.T, old []byte) string {
	path := filepath.Join(t.TempDir(), "geoip", "country.mmdb")
	if old != nil {
		if err := writeAtomic(path, old); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// unchanged checks that the database file still holds old and that no
// temporary file was left beside it.
func unchanged(t *testing.T, path string, old []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, old) {
		t.Error("the database file changed")
	}
	tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*.tmp"))
	if len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func newUpdater(t *testing.T, cfg UpdaterConfig) *Updater {
	t.Helper()
	u, err := NewUpdater(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newDB is a database the tests publish as an update: 203.0.113.0/24 moved
// from CN to BR.
func newDB(t testing.TB) []byte {
	nets := map[string]string{}
	for k, v := range docNets {
		nets[k] = v
	}
	nets["203.0.113.0/24"] = "BR"
	return buildDB(t, dbSpec{nets: nets, built: testBuilt.AddDate(0, 0, 7)})
}

func TestUpdateFromURL(t *testing.T) {
	raw := newDB(t)
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"mmdb", raw},
		{"mmdb.gz", gz(t, raw)},
		{"tar.gz", tarball(t, "dbip-country-lite.mmdb", raw)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFeed(t)
			f.set("/db."+tc.name, tc.body)
			path := install(t, testDB(t))
			u := newUpdater(t, UpdaterConfig{Path: path, URL: srv.URL + "/db." + tc.name})
			db, err := u.Update(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if db == nil {
				t.Fatal("no new database")
			}
			if got := db.Lookup(netip.MustParseAddr("203.0.113.1")); got != "BR" {
				t.Errorf("new database: Lookup = %q", got)
			}
			if db.Info().Path != path {
				t.Errorf("Info.Path = %q", db.Info().Path)
			}
			unchanged(t, path, raw) // i.e. the new one, unpacked
			st := u.Status()
			if st.LastError != "" || st.LastSuccess.IsZero() || st.LastUpdate.IsZero() ||
				!st.DatabaseBuilt.Equal(testBuilt.AddDate(0, 0, 7)) || st.DatabaseType != "GeoLite2-Country" ||
				st.Source != srv.URL+"/db."+tc.name {
				t.Errorf("status %+v", st)
			}
			// Unchanged at the source: a conditional request, no download.
			db, err = u.Update(context.Background())
			if err != nil || db != nil {
				t.Fatalf("second update: %v, %v", db, err)
			}
			st = u.Status()
			if n := f.downloads.Load(); n != 1 {
				t.Errorf("%d downloads, want 1", n)
			}
			// Nor after a restart: the validators are kept beside the file.
			u = newUpdater(t, UpdaterConfig{Path: path, URL: srv.URL + "/db." + tc.name})
			if !u.Status().LastSuccess.Equal(st.LastSuccess) {
				t.Errorf("last success not kept across a restart")
			}
			if db, err := u.Update(context.Background()); err != nil || db != nil {
				t.Fatalf("update after restart: %v, %v", db, err)
			}
			if n := f.downloads.Load(); n != 1 {
				t.Errorf("%d downloads after restart, want 1", n)
			}
		})
	}
}

func TestUpdateMissingFile(t *testing.T) {
	f, srv := newFeed(t)
	f.set("/db.mmdb", testDB(t))
	path := install(t, nil)
	u := newUpdater(t, UpdaterConfig{Path: path, URL: srv.URL + "/db.mmdb"})
	db, err := u.Update(context.Background())
	if err != nil || db == nil {
		t.Fatalf("%v, %v", db, err)
	}
	if _, err := Open(path); err != nil {
		t.Fatal(err)
	}
}

// TestUpdateFileReplacedByHand checks that validators of a file that was
// replaced by other means are not used: the source is asked again in full.
func TestUpdateFileReplacedByHand(t *testing.T) {
	f, srv := newFeed(t)
	f.set("/db.mmdb", newDB(t))
	path := install(t, testDB(t))
	u := newUpdater(t, UpdaterConfig{Path: path, URL: srv.URL + "/db.mmdb"})
	if _, err := u.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := testDB(t)
	if err := writeAtomic(path, old); err != nil {
		t.Fatal(err)
	}
	db, err := u.Update(context.Background())
	if err != nil || db == nil {
		t.Fatalf("%v, %v", db, err)
	}
	if n := f.downloads.Load(); n != 2 {
		t.Errorf("%d downloads, want 2", n)
	}
}

func TestUpdateMaxMind(t *testing.T) {
	f, srv := newFeed(t)
	f.user, f.pass = "123456", "license-key"
	const uri = "/geoip/databases/GeoLite2-Country/download?suffix=tar.gz"
	publish := func(db []byte) {
		tgz := tarball(t, "GeoLite2-Country.mmdb", db)
		f.set(uri, tgz)
		f.set(uri+".sha256", sha256File(tgz, "GeoLite2-Country_20261103.tar.gz"))
	}
	publish(newDB(t))
	path := install(t, testDB(t))
	cfg := UpdaterConfig{Path: path, AccountID: "123456", LicenseKey: "license-key", MaxMindURL: srv.URL}
	u := newUpdater(t, cfg)
	if s := u.Status().Source; strings.Contains(s, "license-key") || !strings.Contains(s, "GeoLite2-Country") {
		t.Errorf("source %q", s)
	}
	db, err := u.Update(context.Background())
	if err != nil || db == nil {
		t.Fatalf("%v, %v", db, err)
	}
	if got := db.Lookup(netip.MustParseAddr("203.0.113.1")); got != "BR" {
		t.Errorf("Lookup = %q", got)
	}
	// Same checksum: the archive is not even requested.
	req := f.requests.Load()
	if db, err := u.Update(context.Background()); err != nil || db != nil {
		t.Fatalf("unchanged: %v, %v", db, err)
	}
	if n := f.requests.Load() - req; n != 1 {
		t.Errorf("%d requests for an unchanged database, want 1 (the checksum)", n)
	}
	if n := f.downloads.Load(); n != 3 { // the archive once, the checksum twice
		t.Errorf("%d downloads, want 3", n)
	}
	// A new edition comes out.
	publish(buildDB(t, dbSpec{nets: docNets, built: testBuilt.AddDate(0, 0, 14)}))
	db, err = u.Update(context.Background())
	if err != nil || db == nil {
		t.Fatalf("new edition: %v, %v", db, err)
	}
	if got := db.Lookup(netip.MustParseAddr("203.0.113.1")); got != "CN" {
		t.Errorf("Lookup = %q", got)
	}

	// Wrong license key: a clear error, nothing changes.
	current, _ := os.ReadFile(path)
	cfg.LicenseKey = "wrong"
	u = newUpdater(t, cfg)
	_, err = u.Update(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "license key") {
		t.Errorf("wrong key: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error shows the key: %v", err)
	}
	unchanged(t, path, current)
}

// TestUpdateRefused checks that a bad download changes nothing: not the
// file, not the validators (the next good download is fetched in full),
// and the error is in the status.
func TestUpdateRefused(t *testing.T) {
	good := newDB(t)
	for _, tc := range []struct {
		name    string
		files   map[string][]byte
		hook    func(w http.ResponseWriter, r *http.Request) bool
		maxSize int64
		want    string
	}{
		{
			name:  "checksum mismatch",
			files: map[string][]byte{"/db.mmdb": good, "/db.mmdb.sha256": sha256File(testDB(t), "db.mmdb")},
			want:  "checksum mismatch",
		},
		{
			name:  "bad checksum file",
			files: map[string][]byte{"/db.mmdb": good, "/db.mmdb.sha256": []byte("<html>not found</html>")},
			want:  "not a SHA-256",
		},
		{
			name:  "wrong database type",
			files: map[string][]byte{"/db.mmdb": buildDB(t, dbSpec{typ: "GeoLite2-ASN", nets: docNets})},
			want:  "not a country database",
		},
		{
			name:  "not a database",
			files: map[string][]byte{"/db.mmdb": []byte("<html>captive portal</html>")},
			want:  "invalid MaxMind DB",
		},
		{
			name:  "truncated gzip",
			files: map[string][]byte{"/db.mmdb": func() []byte { b := gz(t, good); return b[:len(b)/2] }()},
			want:  "gunzip",
		},
		{
			name:  "tar without database",
			files: map[string][]byte{"/db.mmdb": tarball(t, "README.txt", good)},
			want:  "no .mmdb",
		},
		{
			name: "truncated transfer",
			hook: func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Length", fmt.Sprint(len(good)))
				w.Write(good[:len(good)/2])
				return true // the server closes the connection short
			},
			want: "unexpected EOF",
		},
		{
			name: "truncated without length",
			hook: func(w http.ResponseWriter, r *http.Request) bool {
				w.Write(good[:len(good)-200]) // chunked, ends cleanly: the metadata is gone
				return true
			},
			want: "end of database",
		},
		{
			name:    "over the size limit",
			files:   map[string][]byte{"/db.mmdb": good},
			maxSize: int64(len(good)) - 1,
			want:    "limit",
		},
		{
			name: "over the size limit without length",
			hook: func(w http.ResponseWriter, r *http.Request) bool {
				w.Write(good[:100])
				w.(http.Flusher).Flush()
				w.Write(good[100:])
				return true
			},
			maxSize: int64(len(good)) - 1,
			want:    "limit",
		},
		{
			name:    "unpacks over the size limit",
			files:   map[string][]byte{"/db.mmdb": gz(t, append(good, make([]byte, 1<<20)...))},
			maxSize: 1 << 20,
			want:    "limit",
		},
		{
			name: "server error",
			hook: func(w http.ResponseWriter, r *http.Request) bool {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return true
			},
			want: "503",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFeed(t)
			for k, v := range tc.files {
				f.set(k, v)
			}
			f.hook = tc.hook
			cfg := UpdaterConfig{Path: install(t, testDB(t)), URL: srv.URL + "/db.mmdb", MaxSize: tc.maxSize}
			if _, ok := tc.files["/db.mmdb.sha256"]; ok {
				cfg.ChecksumURL = srv.URL + "/db.mmdb.sha256"
			}
			u := newUpdater(t, cfg)
			db, err := u.Update(context.Background())
			if err == nil || db != nil {
				t.Fatalf("accepted: %v, %v", db, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			unchanged(t, cfg.Path, testDB(t))
			st := u.Status()
			if st.LastError != err.Error() || st.Failures != 1 || !st.LastSuccess.IsZero() || st.LastCheck.IsZero() {
				t.Errorf("status %+v", st)
			}
			if _, err := os.Stat(cfg.Path + ".state"); err == nil {
				t.Error("state written after a failed update")
			}
		})
	}
}

func TestUpdateTimeout(t *testing.T) {
	f, srv := newFeed(t)
	release := make(chan struct{})
	defer close(release)
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	}
	path := install(t, testDB(t))
	u := newUpdater(t, UpdaterConfig{Path: path, URL: srv.URL + "/db.mmdb", Timeout: 50 * time.Millisecond})
	start := time.Now()
	if _, err := u.Update(context.Background()); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	unchanged(t, path, testDB(t))
}

func TestNewUpdaterRejects(t *testing.T) {
	for name, cfg := range map[string]UpdaterConfig{
		"no path":         {URL: "https://example.com/db.mmdb"},
		"no source":       {Path: "/x"},
		"both":            {Path: "/x", URL: "https://example.com/db.mmdb", AccountID: "1", LicenseKey: "k"},
		"no key":          {Path: "/x", AccountID: "1"},
		"not http":        {Path: "/x", URL: "ftp://example.com/db.mmdb"},
		"bad checksum":    {Path: "/x", URL: "https://example.com/db.mmdb", ChecksumURL: "file:///etc/passwd"},
		"relative":        {Path: "/x", URL: "db.mmdb"},
		"bad maxmind url": {Path: "/x", AccountID: "1", LicenseKey: "k", MaxMindURL: "nope"},
	} {
		if _, err := NewUpdater(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	u := newUpdater(t, UpdaterConfig{Path: "/x", URL: "https://user:secret@example.com/db.mmdb?token=secret"})
	if s := u.Status().Source; strings.Contains(s, "secret") {
		t.Errorf("source %q shows a secret", s)
	}
}

func TestStatusJSON(t *testing.T) {
	st := Status{Source: "x", LastSuccess: testBuilt, DatabaseBuilt: testBuilt, DatabaseType: "GeoLite2-Country"}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"source":"x","last_success":"2026-11-03T00:00:00Z","database_built":"2026-11-03T00:00:00Z","database_type":"GeoLite2-Country"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestRun(t *testing.T) {
	f, srv := newFeed(t)
	f.set("/db.mmdb", testDB(t))
	path := install(t, nil)
	u := newUpdater(t, UpdaterConfig{Path: path, URL: srv.URL + "/db.mmdb", Retry: 10 * time.Millisecond})
	got := make(chan *DB, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- u.Run(ctx, 30*time.Millisecond, func(db *DB) { got <- db }) }()

	wait := func(want string) {
		t.Helper()
		select {
		case db := <-got:
			if c := db.Lookup(netip.MustParseAddr("203.0.113.1")); c != want {
				t.Errorf("Lookup = %q, want %q", c, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no new database")
		}
	}
	wait("CN") // no file yet: the first check is at once
	if u.Status().NextCheck.IsZero() {
		t.Error("no next check in the status")
	}
	// A broken publication is refused and retried; the fixed one arrives.
	f.set("/db.mmdb", []byte("broken"))
	deadline := time.Now().Add(5 * time.Second)
	for u.Status().Failures == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if u.Status().Failures == 0 {
		t.Fatal("broken publication not seen")
	}
	f.set("/db.mmdb", newDB(t))
	wait("BR")
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run returned %v", err)
	}
	if !u.Status().NextCheck.IsZero() {
		t.Error("next check still set after Run ended")
	}
	select {
	case db := <-got:
		t.Errorf("unexpected database %+v", db.Info())
	default:
	}
	if err := u.Run(context.Background(), 0, nil); err == nil {
		t.Error("zero interval accepted")
	}
}

// TestRunSchedule checks when Run first checks: after the interval from the
// last success recorded beside the database, never later than one interval
// from now (whatever the clock says).
func TestRunSchedule(t *testing.T) {
	f, srv := newFeed(t)
	f.set("/db.mmdb", testDB(t))
	path := install(t, nil)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	u := newUpdater(t, UpdaterConfig{Path: path, URL: srv.URL + "/db.mmdb", Now: clock})
	if _, err := u.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		now, want time.Time
	}{
		{now.Add(time.Hour), now.Add(24 * time.Hour)},                        // restarted an hour later
		{now.Add(48 * time.Hour), now.Add(48 * time.Hour)},                   // overdue: at once
		{now.AddDate(-50, 0, 0), now.AddDate(-50, 0, 0).Add(24 * time.Hour)}, // clock not set
	} {
		u := newUpdater(t, UpdaterConfig{Path: path, URL: srv.URL + "/db.mmdb", Now: func() time.Time { return tc.now }})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- u.Run(ctx, 24*time.Hour, nil) }()
		deadline := time.Now().Add(5 * time.Second)
		if tc.want.Equal(tc.now) {
			// Due at once: the check happens.
			for !u.Status().LastCheck.Equal(tc.now) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if st := u.Status(); !st.LastCheck.Equal(tc.now) || st.LastError != "" {
				t.Errorf("now %v: no check at once: %+v", tc.now, st)
			}
		} else {
			for u.Status().NextCheck.IsZero() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := u.Status().NextCheck; !got.Equal(tc.want) {
				t.Errorf("now %v: next check %v, want %v", tc.now, got, tc.want)
			}
		}
		cancel()
		<-done
	}
}
