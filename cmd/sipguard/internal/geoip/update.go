package geoip

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/atomicfile"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Defaults of [UpdaterConfig].
const (
	DefaultEdition    = "GeoLite2-Country"
	DefaultMaxMindURL = "https://download.maxmind.com"
	DefaultMaxSize    = 64 << 20
	DefaultTimeout    = 5 * time.Minute
	DefaultRetry      = time.Hour
)

// UpdaterConfig says where a database comes from and where it goes. Set
// either URL or AccountID and LicenseKey.
type UpdaterConfig struct {
	// Path is the database file that updates replace.
	Path string
	// URL is a plain download: an .mmdb file, an .mmdb.gz, or a .tar.gz
	// (or .tar) holding one (the format is told from the content).
	URL string
	// ChecksumURL, optional with URL, serves the SHA-256 of what URL serves,
	// as hex, optionally followed by a file name (sha256sum's format).
	ChecksumURL string

	// AccountID and LicenseKey select MaxMind's download service for
	// Edition (default GeoLite2-Country). Its .sha256 file is always checked.
	AccountID  string
	LicenseKey string
	Edition    string
	// MaxMindURL is the service's base URL (DefaultMaxMindURL when empty).
	MaxMindURL string

	// Client makes the requests (http.DefaultClient's settings when nil).
	Client *http.Client
	// MaxSize bounds both the download and the unpacked database, in bytes
	// (DefaultMaxSize when 0).
	MaxSize int64
	// Timeout bounds one whole update (DefaultTimeout when 0).
	Timeout time.Duration
	// Retry is how soon Run tries again after a failed update, at most its
	// interval (DefaultRetry when 0).
	Retry time.Duration
	// Now is the clock for status times and Run's schedule (time.Now when nil).
	Now func() time.Time
}

// Status tells how updates went; the API serialises it as it is.
type Status struct {
	// Source says where updates come from, without credentials.
	Source string `json:"source"`
	// LastCheck is when the last update attempt ended, well or not.
	LastCheck time.Time `json:"last_check,omitzero"`
	// LastSuccess is when an attempt last ended well: a new database
	// installed, or the source confirmed the current one is the latest.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastUpdate is when a new database was last installed.
	LastUpdate time.Time `json:"last_update,omitzero"`
	// LastError is the last attempt's error, "" if it ended well.
	LastError string `json:"last_error,omitempty"`
	// Failures counts the attempts that failed in a row.
	Failures int `json:"failures,omitempty"`
	// DatabaseBuilt is the build time of the database the last update
	// installed (zero until one was installed by this updater).
	DatabaseBuilt time.Time `json:"database_built,omitzero"`
	// DatabaseType is that database's type.
	DatabaseType string `json:"database_type,omitempty"`
	// NextCheck is when Run will try next (zero when Run is not running).
	NextCheck time.Time `json:"next_check,omitzero"`
}

// Updater downloads new versions of a country database, verifies them and
// swaps them into place. Its methods are safe for concurrent use; updates
// run one at a time.
//
// What it learned from the source (ETag, Last-Modified, checksum) and when
// it last succeeded are kept beside the database in Path+".state", so an
// unchanged database is not downloaded again after a restart either.
type Updater struct {
	cfg        UpdaterConfig
	url        string
	sumURL     string
	user, pass string
	source     string

	updating sync.Mutex // one update at a time

	mu     sync.Mutex // guards status and st
	status Status
	st     state
}

// state is what the updater keeps on disk beside the database.
type state struct {
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	Checksum     string    `json:"checksum,omitempty"`
	Success      time.Time `json:"success,omitzero"`
	// FileSize and FileTime identify the database file the validators above
	// belong to: a file replaced by other means invalidates them.
	FileSize int64     `json:"file_size,omitempty"`
	FileTime time.Time `json:"file_time,omitzero"`
}

// NewUpdater checks cfg and returns an updater for it. It reads the state
// a previous updater left beside the database, if any.
func NewUpdater(cfg UpdaterConfig) (*Updater, error) {
	if cfg.Path == "" {
		return nil, errors.New("geoip updater: no database path")
	}
	u := &Updater{cfg: cfg}
	if u.cfg.MaxSize <= 0 {
		u.cfg.MaxSize = DefaultMaxSize
	}
	if u.cfg.Timeout <= 0 {
		u.cfg.Timeout = DefaultTimeout
	}
	if u.cfg.Retry <= 0 {
		u.cfg.Retry = DefaultRetry
	}
	if u.cfg.Now == nil {
		u.cfg.Now = time.Now
	}
	if u.cfg.Client == nil {
		u.cfg.Client = &http.Client{}
	}
	maxmind := cfg.AccountID != "" || cfg.LicenseKey != ""
	switch {
	case maxmind && cfg.URL != "":
		return nil, errors.New("geoip updater: give either a URL or a MaxMind account, not both")
	case maxmind && (cfg.AccountID == "" || cfg.LicenseKey == ""):
		return nil, errors.New("geoip updater: a MaxMind account needs both the account ID and the license key")
	case maxmind:
		edition := cfg.Edition
		if edition == "" {
			edition = DefaultEdition
		}
		base := cfg.MaxMindURL
		if base == "" {
			base = DefaultMaxMindURL
		}
		if _, err := checkURL(base); err != nil {
			return nil, fmt.Errorf("geoip updater: MaxMind URL: %w", err)
		}
		u.url = strings.TrimSuffix(base, "/") + "/geoip/databases/" + url.PathEscape(edition) + "/download?suffix=tar.gz"
		u.sumURL = u.url + ".sha256"
		u.user, u.pass = cfg.AccountID, cfg.LicenseKey
		u.source = "MaxMind " + edition + " (account " + cfg.AccountID + ")"
	case cfg.URL == "":
		return nil, errors.New("geoip updater: no download URL and no MaxMind account")
	default:
		shown, err := checkURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("geoip updater: URL: %w", err)
		}
		if cfg.ChecksumURL != "" {
			if _, err := checkURL(cfg.ChecksumURL); err != nil {
				return nil, fmt.Errorf("geoip updater: checksum URL: %w", err)
			}
		}
		u.url, u.sumURL, u.source = cfg.URL, cfg.ChecksumURL, shown
	}
	u.status.Source = u.source
	u.st = u.loadState()
	u.status.LastSuccess = u.st.Success
	return u, nil
}

// checkURL accepts http and https URLs and returns the URL as it may be
// shown: without user information or query (which may hold secrets).
func checkURL(s string) (string, error) {
	p, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if p.Scheme != "http" && p.Scheme != "https" || p.Host == "" {
		return "", fmt.Errorf("%q is not an http or https URL", s)
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String(), nil
}

// Status returns how updates went so far.
func (u *Updater) Status() Status {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.status
}

// Update checks the source once. When it has a new database that passes
// every check (size limit, checksum where the source gives one, a country
// database that opens and walks cleanly), Update writes it to Path
// atomically and returns it. When the source has nothing new it returns
// nil, nil. On any error the file at Path, and so the database in use,
// stay as they were.
func (u *Updater) Update(ctx context.Context) (*DB, error) {
	u.updating.Lock()
	defer u.updating.Unlock()
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()

	db, st, err := u.update(ctx)
	now := u.cfg.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status.LastCheck = now
	if err != nil {
		u.status.LastError = err.Error()
		u.status.Failures++
		return nil, err
	}
	u.status.LastError = ""
	u.status.Failures = 0
	u.status.LastSuccess = now
	st.Success = now
	if db != nil {
		u.status.LastUpdate = now
		u.status.DatabaseBuilt = db.info.Built
		u.status.DatabaseType = db.info.Type
	}
	u.st = st
	// The state only saves a download; failing to write it costs at most
	// one download more, so it is not an update error.
	_ = u.saveState(st)
	return db, nil
}

// update does the work of Update and returns the state to keep if it
// succeeds.
func (u *Updater) update(ctx context.Context) (*DB, state, error) {
	u.mu.Lock()
	st := u.st
	u.mu.Unlock()
	if !u.fileMatches(st) {
		st = state{Success: st.Success}
	}
	var want string
	if u.sumURL != "" {
		sum, err := u.fetchChecksum(ctx)
		if err != nil {
			return nil, st, err
		}
		if sum == st.Checksum {
			return nil, st, nil
		}
		want = sum
	}

	req, err := u.request(ctx, u.url)
	if err != nil {
		return nil, st, err
	}
	if st.ETag != "" {
		req.Header.Set("If-None-Match", st.ETag)
	}
	if st.LastModified != "" {
		req.Header.Set("If-Modified-Since", st.LastModified)
	}
	resp, err := u.cfg.Client.Do(req)
	if err != nil {
		return nil, st, fmt.Errorf("download %s: %w", u.source, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return nil, st, nil
	case resp.StatusCode != http.StatusOK:
		return nil, st, fmt.Errorf("download %s: %s%s", u.source, resp.Status, statusHint(resp.StatusCode))
	case resp.ContentLength > u.cfg.MaxSize:
		return nil, st, fmt.Errorf("download %s: %d bytes, over the %d-byte limit", u.source, resp.ContentLength, u.cfg.MaxSize)
	}
	body, err := readLimited(resp.Body, u.cfg.MaxSize)
	if err != nil {
		return nil, st, fmt.Errorf("download %s: %w", u.source, err)
	}
	if resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength {
		return nil, st, fmt.Errorf("download %s: truncated: %d of %d bytes", u.source, len(body), resp.ContentLength)
	}
	sum := sha256.Sum256(body)
	got := hex.EncodeToString(sum[:])
	if want != "" && got != want {
		return nil, st, fmt.Errorf("download %s: checksum mismatch: got sha256 %s, the source says %s", u.source, got, want)
	}
	raw, err := unpack(body, u.cfg.MaxSize)
	if err != nil {
		return nil, st, fmt.Errorf("download %s: %w", u.source, err)
	}
	db, err := openBytes(raw)
	if err != nil {
		return nil, st, fmt.Errorf("download %s: %w", u.source, err)
	}
	if err := writeAtomic(u.cfg.Path, raw); err != nil {
		return nil, st, fmt.Errorf("install %s: %w", u.cfg.Path, err)
	}
	db.info.Path = u.cfg.Path
	st = state{
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		Checksum:     want,
	}
	if fi, err := os.Stat(u.cfg.Path); err == nil {
		st.FileSize, st.FileTime = fi.Size(), fi.ModTime().UTC()
	}
	return db, st, nil
}

func (u *Updater) request(ctx context.Context, target string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", u.source, err)
	}
	req.Header.Set("User-Agent", "sipguard-geoip")
	if u.user != "" {
		req.SetBasicAuth(u.user, u.pass)
	}
	return req, nil
}

func statusHint(code int) string {
	switch code {
	case http.StatusUnauthorized:
		return " (check the account ID and license key)"
	case http.StatusTooManyRequests:
		return " (download limit reached; try again later)"
	}
	return ""
}

// fetchChecksum reads the source's SHA-256 file: hex, then optionally a
// file name.
func (u *Updater) fetchChecksum(ctx context.Context) (string, error) {
	req, err := u.request(ctx, u.sumURL)
	if err != nil {
		return "", err
	}
	resp, err := u.cfg.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("checksum of %s: %w", u.source, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("checksum of %s: %s%s", u.source, resp.Status, statusHint(resp.StatusCode))
	}
	body, err := readLimited(resp.Body, 4096)
	if err != nil {
		return "", fmt.Errorf("checksum of %s: %w", u.source, err)
	}
	fields := strings.Fields(string(body))
	if len(fields) == 0 {
		return "", fmt.Errorf("checksum of %s: empty checksum file", u.source)
	}
	sum := strings.ToLower(fields[0])
	if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("checksum of %s: %q is not a SHA-256 in hex", u.source, fields[0])
	}
	return sum, nil
}

// readLimited reads r to its end, failing if it holds more than max bytes.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("more than the %d-byte limit", max)
	}
	return buf.Bytes(), nil
}

// unpack returns the database inside a download: the download itself, or
// what its gzip compression and tar archive hold (the first *.mmdb file).
func unpack(b []byte, max int64) ([]byte, error) {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
		if b, err = readLimited(zr, max); err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
	}
	if len(b) < 262 || string(b[257:262]) != "ustar" {
		return b, nil
	}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, errors.New("tar archive holds no .mmdb file")
		}
		if err != nil {
			return nil, fmt.Errorf("tar: %w", err)
		}
		if h.Typeflag == tar.TypeReg && strings.HasSuffix(h.Name, ".mmdb") {
			db, err := readLimited(tr, max)
			if err != nil {
				return nil, fmt.Errorf("tar: %s: %w", h.Name, err)
			}
			return db, nil
		}
	}
}

// writeAtomic replaces path with data, whole or not at all, creating its
// folder if needed.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

func (u *Updater) statePath() string { return u.cfg.Path + ".state" }

func (u *Updater) loadState() state {
	var st state
	b, err := os.ReadFile(u.statePath())
	if err != nil || json.Unmarshal(b, &st) != nil {
		return state{}
	}
	return st
}

func (u *Updater) saveState(st state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return writeAtomic(u.statePath(), b)
}

// fileMatches tells whether the database file is still the one st's
// validators describe.
func (u *Updater) fileMatches(st state) bool {
	fi, err := os.Stat(u.cfg.Path)
	return err == nil && st.FileSize == fi.Size() && st.FileTime.Equal(fi.ModTime().UTC())
}

// Run updates on a schedule until ctx ends, calling onNew with each new
// database (from Run's goroutine; onNew should load it into the kernel and
// make it the one lookups use). The first check comes every after the last
// success recorded beside the database, at once if there is none, and never
// later than every from now; a failed check is retried after the Retry
// delay (at most every). Run returns ctx's error.
func (u *Updater) Run(ctx context.Context, every time.Duration, onNew func(*DB)) error {
	if every <= 0 {
		return fmt.Errorf("geoip updater: interval %v is not positive", every)
	}
	u.mu.Lock()
	last := u.st.Success
	u.mu.Unlock()
	now := u.cfg.Now()
	next := now
	if _, err := os.Stat(u.cfg.Path); err == nil && !last.IsZero() {
		next = last.Add(every)
		// A clock set back (a box without a real-time clock before it
		// synchronises) must not postpone updates for years.
		if next.Before(now) {
			next = now
		}
		if next.After(now.Add(every)) {
			next = now.Add(every)
		}
	}
	defer func() {
		u.mu.Lock()
		u.status.NextCheck = time.Time{}
		u.mu.Unlock()
	}()
	for {
		u.mu.Lock()
		u.status.NextCheck = next
		u.mu.Unlock()
		t := time.NewTimer(next.Sub(u.cfg.Now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		db, err := u.Update(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			next = u.cfg.Now().Add(min(u.cfg.Retry, every))
			continue
		}
		if db != nil && onNew != nil {
			onNew(db)
		}
		next = u.cfg.Now().Add(every)
	}
}
