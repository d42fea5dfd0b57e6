// Package feeds downloads global blocklists (plain text lists of addresses
// and networks, and APIBAN's JSON API), checks them, and keeps the merged set
// of networks they name for the kernel's feeds set.
//
// A Manager holds the feeds. Each refresh downloads one feed with a
// conditional request, parses it as a stream and either replaces that feed's
// content or, if anything is wrong (network error, HTTP error, size limit,
// too many bad lines, no entries), keeps the previous content and records
// why in the feed's Status. All yields the union of every enabled feed's
// content, for netfilter's ReplaceSource.
//
// What a text feed may hold, line by line:
//   - an IPv4 or IPv6 address or network in CIDR notation; '#' or ';' starts
//     a comment that runs to the end of the line; blank lines are skipped;
//   - a line that is anything else (including a network with host bits set)
//     is a bad line: it is counted, its number noted, and it is skipped, but
//     if more than Options.MaxBadRatio of the lines (and more than
//     Options.MaxBadLines) are bad the whole download is refused;
//   - networks shorter than /8 (IPv4) or /16 (IPv6), 0.0.0.0/0 and ::/0
//     among them, are refused line by line, with the reason in the status;
//   - entries that touch the office's own networks or addresses no internet
//     host has (0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12,
//     192.168/16, 224/4, 240/4, ::1, fe80::/10, fc00::/7, ff00::/8) are
//     ignored and counted.
package feeds

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Format is how a feed is written.
type Format string

const (
	// Text is a plain list of addresses and networks, one per line, with
	// '#' and ';' comments (VoIPBL, FireHOL .netset, Spamhaus DROP).
	Text Format = "text"
	// APIBAN is apiban.org's JSON API: the feed's URL is the API's base
	// (https://apiban.org/api/) and its APIKey is required.
	APIBAN Format = "apiban"
)

// Feed describes one blocklist.
type Feed struct {
	Name       string        // unique, as in "voipbl"
	URL        string        // http or https; for APIBAN the API's base URL
	Format     Format        // Text or APIBAN
	APIKey     string        // APIBAN's key; never shown in status or errors
	Enabled    bool          // only enabled feeds are refreshed and blocked
	Interval   time.Duration // between refreshes; 0 means DefaultInterval
	MaxBytes   int64         // largest download (after decompression); 0 means DefaultMaxBytes
	MaxEntries int           // most entries; 0 means DefaultMaxEntries
}

// Defaults for a Feed's zero fields.
const (
	DefaultInterval   = 6 * time.Hour
	DefaultMaxBytes   = 64 << 20
	DefaultMaxEntries = 2_000_000
	// MinInterval is the shortest interval a feed may have: feed
	// maintainers ban clients that poll too often.
	MinInterval = 10 * time.Minute
)

// Options tune a Manager. The zero value is usable.
type Options struct {
	// Client makes the requests; nil means a client of its own.
	Client *http.Client
	// Timeout bounds one refresh of one feed (one request, or one APIBAN
	// page); 0 means 2 minutes.
	Timeout time.Duration
	// MaxBadRatio and MaxBadLines: a download with more bad lines than both
	// MaxBadRatio of its lines and MaxBadLines is refused. 0 means 0.01 and 2.
	MaxBadRatio float64
	MaxBadLines int
	// RetryMin is the first delay after a failed refresh, doubled on each
	// further failure up to the feed's interval; 0 means 1 minute.
	RetryMin time.Duration
	// Jitter spreads refreshes by up to this fraction of their delay, either
	// way; 0 means 0.1, negative means none.
	Jitter float64
	// UserAgent is sent with every request; "" means "sipguard".
	UserAgent string
	// AllowShortIntervals lets feeds refresh more often than MinInterval
	// (for tests).
	AllowShortIntervals bool
	// APIBAN paging: at most APIBANPages pages per refresh (0 means 4), at
	// least APIBANPageDelay between two requests (0 means 25 s, APIBAN's
	// rate limit; negative means none), a refresh that stopped at the page
	// limit continues after APIBANMoreDelay (0 means 3 minutes), and an
	// address not seen again for APIBANRetention is dropped (0 means 7 days).
	APIBANPages     int
	APIBANPageDelay time.Duration
	APIBANMoreDelay time.Duration
	APIBANRetention time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand returns a number in [0, 1) for the jitter; nil means math/rand/v2.
	Rand func() float64
}

func (o Options) withDefaults() Options {
	if o.Client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 30 * time.Second
		o.Client = &http.Client{Transport: t}
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.MaxBadRatio <= 0 {
		o.MaxBadRatio = 0.01
	}
	if o.MaxBadLines <= 0 {
		o.MaxBadLines = 2
	}
	if o.RetryMin <= 0 {
		o.RetryMin = time.Minute
	}
	if o.Jitter == 0 {
		o.Jitter = 0.1
	}
	if o.UserAgent == "" {
		o.UserAgent = "sipguard"
	}
	if o.APIBANPages <= 0 {
		o.APIBANPages = 4
	}
	if o.APIBANPageDelay == 0 {
		o.APIBANPageDelay = 25 * time.Second
	}
	if o.APIBANMoreDelay <= 0 {
		o.APIBANMoreDelay = 3 * time.Minute
	}
	if o.APIBANRetention <= 0 {
		o.APIBANRetention = 7 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Status is what the API shows about one feed.
type Status struct {
	Name    string `json:"name"`
	URL     string `json:"url"` // with any API key replaced by "KEY"
	Format  Format `json:"format"`
	Enabled bool   `json:"enabled"`

	V4 int `json:"v4"` // entries in force, after removing duplicates and covered networks
	V6 int `json:"v6"`

	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"` // downloaded and accepted, or not modified
	LastChange  time.Time `json:"last_change,omitzero"`  // content last replaced
	NextRefresh time.Time `json:"next_refresh,omitzero"` // while Run runs
	LastError   string    `json:"last_error,omitempty"`  // "" after a success
	Failures    int       `json:"failures,omitempty"`    // failed refreshes in a row

	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`

	// About the content in force (the last accepted download; for APIBAN,
	// the pages read by the last refresh that read any):
	Bytes        int64    `json:"bytes"`                      // its size after decompression
	Lines        int      `json:"lines"`                      // lines holding an entry
	BadLines     int      `json:"bad_lines,omitempty"`        // lines that are not an address or network
	BadLineNos   []int    `json:"bad_line_numbers,omitempty"` // the first few
	Refused      int      `json:"refused,omitempty"`          // networks too broad to block
	Refusals     []string `json:"refusals,omitempty"`         // the first few, with their reason
	Ignored      int      `json:"ignored,omitempty"`          // would block the office's own networks
	IgnoredNote  string   `json:"ignored_note,omitempty"`     // what Ignored means, when not 0
	APIBANCursor string   `json:"apiban_cursor,omitempty"`    // the last APIBAN ID seen
}

// IgnoredNote explains Status.Ignored.
const IgnoredNote = "ignored: would block the office's own networks"

// feed is a Feed with its state. content and the counts change only under
// Manager.mu; a refresh of the feed holds busy.
type feed struct {
	Feed
	busy    sync.Mutex
	content *list
	st      Status
	apiban  *apibanState
}

// Manager keeps a set of feeds and their content. Its methods are safe for
// concurrent use.
type Manager struct {
	opts  Options
	mu    sync.Mutex
	feeds []*feed // in the order given
	kick  chan struct{}
}

// New checks the feeds and returns a Manager holding them, with no content
// yet: call Refresh or Run.
func New(feeds []Feed, opts Options) (*Manager, error) {
	m := &Manager{opts: opts.withDefaults(), kick: make(chan struct{}, 1)}
	if err := m.SetFeeds(feeds); err != nil {
		return nil, err
	}
	return m, nil
}

// SetFeeds replaces the feed list. A feed that keeps its name, URL, format
// and key keeps its content and state; the others start empty. A running
// Run picks the change up at once. The caller should load All again: feeds
// removed or disabled are no longer in it.
func (m *Manager) SetFeeds(feeds []Feed) error {
	if err := m.check(feeds); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := make([]*feed, 0, len(feeds))
	for _, fd := range feeds {
		i := slices.IndexFunc(m.feeds, func(old *feed) bool {
			return old.Name == fd.Name && old.URL == fd.URL && old.Format == fd.Format && old.APIKey == fd.APIKey
		})
		f := &feed{}
		if i >= 0 {
			f = m.feeds[i]
		}
		f.Feed = fd
		f.st.Name, f.st.URL, f.st.Format, f.st.Enabled = fd.Name, redact(fd), fd.Format, fd.Enabled
		if !fd.Enabled {
			f.st.NextRefresh = time.Time{}
		}
		next = append(next, f)
	}
	m.feeds = next
	select {
	case m.kick <- struct{}{}:
	default:
	}
	return nil
}

func (m *Manager) check(feeds []Feed) error {
	seen := map[string]bool{}
	for i, f := range feeds {
		if f.Name == "" {
			return fmt.Errorf("feed %d: no name", i+1)
		}
		if seen[f.Name] {
			return fmt.Errorf("feed %q: listed twice", f.Name)
		}
		seen[f.Name] = true
		u, err := url.Parse(f.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("feed %q: URL %q is not an http or https URL", f.Name, redact(f))
		}
		switch f.Format {
		case Text:
		case APIBAN:
			if f.Enabled && f.APIKey == "" {
				return fmt.Errorf("feed %q: APIBAN needs an API key (free at apiban.org)", f.Name)
			}
			if strings.ContainsAny(f.APIKey, "/?#% ") {
				return fmt.Errorf("feed %q: the API key has characters no key has", f.Name)
			}
		default:
			return fmt.Errorf("feed %q: unknown format %q (want %q or %q)", f.Name, f.Format, Text, APIBAN)
		}
		if f.Interval < 0 || f.MaxBytes < 0 || f.MaxEntries < 0 {
			return fmt.Errorf("feed %q: negative interval or limit", f.Name)
		}
		if f.Interval != 0 && f.Interval < MinInterval && !m.opts.AllowShortIntervals {
			return fmt.Errorf("feed %q: interval %v is shorter than %v", f.Name, f.Interval, MinInterval)
		}
	}
	return nil
}

// redact returns the feed's URL as shown to users: APIBAN's key is never
// shown.
func redact(f Feed) string {
	if f.APIKey == "" {
		return f.URL
	}
	return strings.ReplaceAll(f.URL, f.APIKey, "KEY")
}

func (f Feed) interval() time.Duration { return cmpOr(f.Interval, DefaultInterval) }
func (f Feed) maxBytes() int64         { return cmpOr(f.MaxBytes, DefaultMaxBytes) }
func (f Feed) maxEntries() int         { return cmpOr(f.MaxEntries, DefaultMaxEntries) }

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// All yields the merged content of every enabled feed: each network once,
// none inside another, IPv4 in address order then IPv6 in address order,
// so the same content always gives the same sequence. It is a snapshot: a
// refresh while it runs does not change what it yields. Hand it to
// netfilter's (*Firewall).ReplaceSource(netfilter.Feeds, m.All()).
func (m *Manager) All() iter.Seq[netip.Prefix] {
	m.mu.Lock()
	var lists []*list
	for _, f := range m.feeds {
		if f.Enabled && f.content != nil {
			lists = append(lists, f.content)
		}
	}
	m.mu.Unlock()
	return merged(lists)
}

// Status returns every feed's status, in the order of the feed list.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.feeds))
	for _, f := range m.feeds {
		s := f.st
		s.BadLineNos = slices.Clone(s.BadLineNos)
		s.Refusals = slices.Clone(s.Refusals)
		out = append(out, s)
	}
	return out
}

// ErrUnknownFeed is returned by Refresh for a name no feed has.
var ErrUnknownFeed = errors.New("no such feed")

// Refresh downloads one feed now (an enabled one, or a disabled one for a
// try: its content is kept but not in All until it is enabled). It tells
// whether the feed's content changed; the caller then loads All. On error
// the previous content stays and the error is also in the feed's status.
func (m *Manager) Refresh(ctx context.Context, name string) (changed bool, err error) {
	f := m.find(name)
	if f == nil {
		return false, fmt.Errorf("refresh %q: %w", name, ErrUnknownFeed)
	}
	changed, _, err = m.refresh(ctx, f)
	return changed, err
}

func (m *Manager) find(name string) *feed {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.feeds {
		if f.Name == name {
			return f
		}
	}
	return nil
}
