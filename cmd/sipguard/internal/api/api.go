// Package api is the daemon's local API: JSON over HTTP on a unix socket,
// the one way the command line (and later the dashboard) reads the box's
// state and changes it while the daemon runs.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/geoip"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/leds"
	"github.com/sipguard/sipguard/netfilter"
)

// DefaultSocket is where the daemon listens on the box.
const DefaultSocket = "/run/sipguard/api.sock"

// Status is the box's state at a glance.
type Status struct {
	Lists      map[string]ListSize `json:"lists"`            // allow, deny, permanent, dynamic, countries, feeds
	Counters   map[string]uint64   `json:"counters"`         // packets accepted or dropped, by rule
	Inspection map[string]uint64   `json:"inspection"`       // frames seen, undecodable, socket drops…
	Sources    int                 `json:"sources"`          // sources the detection tracks
	Config     string              `json:"config,omitempty"` // the daemon's configuration file
	// Tamper lists what differs from the signed firmware while the
	// warning is not acknowledged (sipguard firmware).
	Tamper []string `json:"tamper,omitempty"`
}

// StatusOf returns the kernel's part of the status: list sizes and rule
// counters.
func StatusOf(st *netfilter.Stats) Status {
	out := Status{Lists: map[string]ListSize{}, Counters: map[string]uint64{}, Inspection: map[string]uint64{}}
	for name, sz := range st.Sizes {
		out.Lists[name] = ListSize{IPv4: sz.V4, IPv6: sz.V6}
	}
	for name, c := range st.Counters {
		out.Counters[name] = c.Packets
	}
	return out
}

// ListSize is how many entries a list holds, by family.
type ListSize struct {
	IPv4 int `json:"ipv4"`
	IPv6 int `json:"ipv6"`
}

// UnbanRequest lifts dynamic bans.
type UnbanRequest struct {
	Addresses []string `json:"addresses"`
}

// UnbanResponse says how many were lifted.
type UnbanResponse struct {
	Unbanned int `json:"unbanned"`
}

// Entry is one address or network on the allow or deny list.
type Entry struct {
	Prefix string    `json:"prefix"`
	Note   string    `json:"note,omitempty"`
	Added  time.Time `json:"added,omitzero"`
	By     string    `json:"by,omitempty"`
}

// AddRequest puts entries on a list; RemoveRequest takes them off (or all
// of them, with All).
type AddRequest struct {
	Entries []Entry `json:"entries"`
}

type RemoveRequest struct {
	Prefixes []string `json:"prefixes,omitempty"`
	All      bool     `json:"all,omitempty"`
}

// CountResponse says how many entries a change touched.
type CountResponse struct {
	Count int `json:"count"`
}

// Check says which lists hold an address, and why.
type Check struct {
	Address   string     `json:"address"`
	Country   string     `json:"country,omitempty"` // ISO 3166 code, when the database knows it
	Allow     []Entry    `json:"allow,omitempty"`
	Deny      []Entry    `json:"deny,omitempty"`
	Permanent *Permanent `json:"permanent,omitempty"`
	Dynamic   *Dynamic   `json:"dynamic,omitempty"`
}

// Permanent is a permanent ban and its reason.
type Permanent struct {
	Source string    `json:"source"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	Bans   int       `json:"bans"`
}

// Dynamic is a dynamic ban in force.
type Dynamic struct {
	Source  string        `json:"source"`
	Expires time.Duration `json:"expires_ns"`
}

// Ban is one ban in force, as the dynamic list shows it.
type Ban struct {
	Source    string        `json:"source"`
	Reason    string        `json:"reason,omitempty"`
	UserAgent string        `json:"user_agent,omitempty"`
	Country   string        `json:"country,omitempty"`    // ISO 3166 code, when known
	At        time.Time     `json:"at,omitzero"`          // when a permanent ban was made
	Expires   time.Duration `json:"expires_ns,omitempty"` // time left of a temporary ban
}

// Bans is the dynamic list: the permanent bans and the temporary ones.
type Bans struct {
	Permanent []Ban `json:"permanent"`
	Temporary []Ban `json:"temporary"`
}

// Report is the attack report of a period.
type Report = store.Report

// Count is how many attack events carried one value (a report's top lists).
type Count = store.Count

// ReportQuery chooses the report's period: a day (YYYY-MM-DD, in the
// box's time zone), or the time since now minus Since; neither is today.
// Top bounds each top list.
type ReportQuery struct {
	Day   string
	Since time.Duration
	Top   int
}

// DefaultTop is how long the report's top lists are unless asked.
const DefaultTop = 10

// Backend is what the API serves: the running daemon.
type Backend interface {
	Status(context.Context) (Status, error)
	Bans(context.Context) (Bans, error)
	Report(context.Context, ReportQuery) (Report, error)
	// Reload reads the configuration file again and puts it in force; a
	// bad file changes nothing.
	Reload(context.Context) error
	Unban(context.Context, []netip.Addr) (int, error)
	List(ctx context.Context, list string) ([]Entry, error)
	Add(ctx context.Context, list string, entries []Entry) (int, error)
	Remove(ctx context.Context, list string, prefixes []netip.Prefix, all bool) (int, error)
	Check(ctx context.Context, a netip.Addr) (Check, error)
	// Board reports the board and what its LEDs show.
	Board(context.Context) (Board, error)
	// Press presses the simulated board's button for hold; a real board's
	// button is pressed by hand (ErrBadRequest).
	Press(ctx context.Context, hold time.Duration) error
	// Halt asks the box's init to reboot or power off.
	Halt(ctx context.Context, action string) error
	// Firmware reports the running firmware and its last tamper check.
	Firmware(context.Context) (Firmware, error)
	// AckTamper acknowledges the tamper warning shown now.
	AckTamper(context.Context) error
	// Update installs an update bundle into the other root slot.
	Update(ctx context.Context, bundle io.Reader) (Update, error)
	// GeoIP reports the country database and the country filter.
	GeoIP(context.Context) (GeoIP, error)
	// UpdateGeoIP looks for a new country database now.
	UpdateGeoIP(context.Context) (GeoIP, error)
	// Feeds reports each blocklist feed.
	Feeds(context.Context) ([]feeds.Status, error)
	// RefreshFeeds refreshes one feed, or every enabled one when name is
	// empty, now.
	RefreshFeeds(ctx context.Context, name string) ([]feeds.Status, error)
	// NotifyStatus reports the notifications: per channel, sent, queued,
	// last error.
	NotifyStatus(context.Context) (any, error)
	// TestNotify sends a test message through every configured channel.
	TestNotify(context.Context) error
}

// FeedRefresh is the body of POST /v1/feeds/refresh.
type FeedRefresh struct {
	Name string `json:"name,omitempty"` // empty: every enabled feed
}

// GeoIP is the country database in use and the country filter.
type GeoIP struct {
	Mode      string        `json:"mode"`                // off, block or allow-only
	Countries []string      `json:"countries,omitempty"` // the countries the filter lists
	Prefixes  int           `json:"prefixes"`            // networks of those countries in the kernel set
	Database  *geoip.Info   `json:"database,omitempty"`  // nil without a database
	Update    *geoip.Status `json:"update,omitempty"`    // nil without an update source
}

// Firmware is the running firmware and its last check against the signed
// manifest.
type Firmware struct {
	Version string    `json:"version,omitempty"` // of the running firmware
	Board   string    `json:"board,omitempty"`
	Slot    string    `json:"slot,omitempty"`   // the root slot it runs from
	Signed  string    `json:"signed,omitempty"` // the version the slot's manifest signs
	Checked time.Time `json:"checked,omitzero"`
	// Tamper lists what differs from the signed manifest; the warning
	// stays until acknowledged.
	Tamper       []string `json:"tamper,omitempty"`
	Acknowledged bool     `json:"acknowledged,omitempty"`
	Error        string   `json:"error,omitempty"` // why nothing could be checked
}

// Update is an installed update.
type Update struct {
	Version string `json:"version"`
	Slot    string `json:"slot"` // the slot it starts from, at the next boot, for one try
}

// MaxBundle bounds an uploaded update bundle.
const MaxBundle = 512 << 20

// Board is the board the box runs on and what its LEDs show.
type Board struct {
	Name      string       `json:"name,omitempty"` // the board's profile; empty without a board
	Title     string       `json:"title,omitempty"`
	Simulated bool         `json:"simulated"`
	LEDs      *leds.Status `json:"leds,omitempty"`
	// Lit is the simulated board's LEDs as they are lit now, such as
	// "R○ G● B○ green".
	Lit string `json:"lit,omitempty"`
}

// Press is the body of POST /v1/button.
type Press struct {
	Hold string `json:"hold"` // how long the button is held, e.g. "10s"
}

// MaxHold bounds a simulated press.
const MaxHold = time.Minute

// Halt actions.
const (
	HaltReboot   = "reboot"
	HaltPowerOff = "poweroff"
)

// ErrBadRequest marks a request the API refuses: nothing was changed.
var ErrBadRequest = errors.New("bad request")

type errorBody struct {
	Error string `json:"error"`
}

// Handler serves the API.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.Status(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("GET /v1/board", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.Board(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("POST /v1/button", func(w http.ResponseWriter, r *http.Request) {
		var p Press
		if err := decode(r, &p); err != nil {
			reply(w, nil, err)
			return
		}
		hold, err := time.ParseDuration(p.Hold)
		if err != nil || hold <= 0 || hold > MaxHold {
			reply(w, nil, fmt.Errorf("%w: hold %q: want a duration up to %v, such as 10s", ErrBadRequest, p.Hold, MaxHold))
			return
		}
		reply(w, struct{}{}, b.Press(r.Context(), hold))
	})
	mux.HandleFunc("POST /v1/system/{action}", func(w http.ResponseWriter, r *http.Request) {
		a := r.PathValue("action")
		if a != HaltReboot && a != HaltPowerOff {
			reply(w, nil, fmt.Errorf("%w: %q: want reboot or poweroff", ErrBadRequest, a))
			return
		}
		reply(w, struct{}{}, b.Halt(r.Context(), a))
	})
	mux.HandleFunc("GET /v1/notify", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.NotifyStatus(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("POST /v1/notify/test", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, b.TestNotify(r.Context()))
	})
	mux.HandleFunc("GET /v1/feeds", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.Feeds(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("POST /v1/feeds/refresh", func(w http.ResponseWriter, r *http.Request) {
		var q FeedRefresh
		if err := decode(r, &q); err != nil {
			reply(w, nil, err)
			return
		}
		st, err := b.RefreshFeeds(r.Context(), q.Name)
		reply(w, st, err)
	})
	mux.HandleFunc("GET /v1/geoip", func(w http.ResponseWriter, r *http.Request) {
		g, err := b.GeoIP(r.Context())
		reply(w, g, err)
	})
	mux.HandleFunc("POST /v1/geoip/update", func(w http.ResponseWriter, r *http.Request) {
		g, err := b.UpdateGeoIP(r.Context())
		reply(w, g, err)
	})
	mux.HandleFunc("GET /v1/firmware", func(w http.ResponseWriter, r *http.Request) {
		f, err := b.Firmware(r.Context())
		reply(w, f, err)
	})
	mux.HandleFunc("POST /v1/firmware/ack", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, b.AckTamper(r.Context()))
	})
	mux.HandleFunc("POST /v1/update", func(w http.ResponseWriter, r *http.Request) {
		u, err := b.Update(r.Context(), http.MaxBytesReader(w, r.Body, MaxBundle))
		reply(w, u, err)
	})
	mux.HandleFunc("GET /v1/bans", func(w http.ResponseWriter, r *http.Request) {
		bans, err := b.Bans(r.Context())
		reply(w, bans, err)
	})
	mux.HandleFunc("GET /v1/report", func(w http.ResponseWriter, r *http.Request) {
		q, err := reportQuery(r.URL.Query())
		if err != nil {
			reply(w, nil, err)
			return
		}
		rep, err := b.Report(r.Context(), q)
		reply(w, rep, err)
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, b.Reload(r.Context()))
	})
	mux.HandleFunc("POST /v1/unban", func(w http.ResponseWriter, r *http.Request) {
		var req UnbanRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			reply(w, nil, fmt.Errorf("%w: %v", ErrBadRequest, err))
			return
		}
		if len(req.Addresses) == 0 {
			reply(w, nil, fmt.Errorf("%w: no addresses", ErrBadRequest))
			return
		}
		addrs := make([]netip.Addr, 0, len(req.Addresses))
		for i, s := range req.Addresses {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				reply(w, nil, fmt.Errorf("%w: addresses[%d]: %q is not an IP address", ErrBadRequest, i, s))
				return
			}
			addrs = append(addrs, a)
		}
		n, err := b.Unban(r.Context(), addrs)
		reply(w, UnbanResponse{Unbanned: n}, err)
	})
	mux.HandleFunc("GET /v1/check/{addr}", func(w http.ResponseWriter, r *http.Request) {
		a, err := netip.ParseAddr(r.PathValue("addr"))
		if err != nil || a.Zone() != "" {
			reply(w, nil, fmt.Errorf("%w: %q is not an IP address", ErrBadRequest, r.PathValue("addr")))
			return
		}
		c, err := b.Check(r.Context(), a.Unmap())
		reply(w, c, err)
	})
	mux.HandleFunc("GET /v1/lists/{list}", func(w http.ResponseWriter, r *http.Request) {
		list, err := listName(r)
		if err != nil {
			reply(w, nil, err)
			return
		}
		entries, err := b.List(r.Context(), list)
		reply(w, entries, err)
	})
	mux.HandleFunc("POST /v1/lists/{list}", func(w http.ResponseWriter, r *http.Request) {
		list, err := listName(r)
		var req AddRequest
		if err == nil {
			err = decode(r, &req)
		}
		if err == nil {
			err = checkEntries(req.Entries)
		}
		if err != nil {
			reply(w, nil, err)
			return
		}
		n, err := b.Add(r.Context(), list, req.Entries)
		reply(w, CountResponse{Count: n}, err)
	})
	mux.HandleFunc("DELETE /v1/lists/{list}", func(w http.ResponseWriter, r *http.Request) {
		list, err := listName(r)
		var req RemoveRequest
		if err == nil {
			err = decode(r, &req)
		}
		var prefixes []netip.Prefix
		for i, s := range req.Prefixes {
			if err != nil {
				break
			}
			var p netip.Prefix
			if p, err = netfilter.ParsePrefix(s); err != nil {
				err = fmt.Errorf("%w: prefixes[%d]: %v", ErrBadRequest, i, err)
			}
			prefixes = append(prefixes, p)
		}
		if err == nil && !req.All && len(prefixes) == 0 {
			err = fmt.Errorf("%w: no prefixes, and all not set", ErrBadRequest)
		}
		if err != nil {
			reply(w, nil, err)
			return
		}
		n, err := b.Remove(r.Context(), list, prefixes, req.All)
		reply(w, CountResponse{Count: n}, err)
	})
	return mux
}

// maxTop bounds the report's top lists.
const maxTop = 1000

// reportQuery reads the report's parameters: day, since, top.
func reportQuery(v url.Values) (ReportQuery, error) {
	q := ReportQuery{Day: v.Get("day"), Top: DefaultTop}
	for k := range v {
		if k != "day" && k != "since" && k != "top" {
			return q, fmt.Errorf("%w: unknown parameter %q (day, since, top)", ErrBadRequest, k)
		}
	}
	if q.Day != "" {
		if _, err := time.Parse("2006-01-02", q.Day); err != nil {
			return q, fmt.Errorf("%w: day: %q is not a date like 2026-11-25", ErrBadRequest, q.Day)
		}
	}
	if s := v.Get("since"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return q, fmt.Errorf("%w: since: %q is not a positive duration like 90m or 24h", ErrBadRequest, s)
		}
		if q.Day != "" {
			return q, fmt.Errorf("%w: give day or since, not both", ErrBadRequest)
		}
		q.Since = d
	}
	if s := v.Get("top"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxTop {
			return q, fmt.Errorf("%w: top: %q is not a number from 1 to %d", ErrBadRequest, s, maxTop)
		}
		q.Top = n
	}
	return q, nil
}

func listName(r *http.Request) (string, error) {
	switch l := r.PathValue("list"); l {
	case "allow", "deny":
		return l, nil
	default:
		return "", fmt.Errorf("%w: no list %q (allow or deny)", ErrBadRequest, l)
	}
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return nil
}

// checkEntries refuses the whole request if one entry is bad.
func checkEntries(entries []Entry) error {
	if len(entries) == 0 {
		return fmt.Errorf("%w: no entries", ErrBadRequest)
	}
	for i, e := range entries {
		if _, err := netfilter.ParsePrefix(e.Prefix); err != nil {
			return fmt.Errorf("%w: entries[%d]: %v", ErrBadRequest, i, err)
		}
	}
	return nil
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrBadRequest) {
			code = http.StatusBadRequest
		}
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(errorBody{Error: err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// Serve listens on the unix socket at path (replacing a stale one) and
// serves b until ctx ends. Only root and the socket's group may connect.
func Serve(ctx context.Context, path string, b Backend, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("api socket %s: another daemon is listening", path)
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return fmt.Errorf("api socket: %w", err)
	}
	srv := &http.Server{Handler: Handler(b), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Info("api listening", "socket", path)
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("api: %w", err)
	}
	_ = os.Remove(path)
	return nil
}

// Client calls the API of the daemon listening at Socket.
type Client struct{ Socket string }

func (c Client) http(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.Socket)
		},
	}}
}

// ErrNoDaemon means nothing listens on the socket.
var ErrNoDaemon = errors.New("the sipguard daemon is not running (no API socket)")

func (c Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.doFor(ctx, 10*time.Second, method, path, in, out)
}

// doFor is do with a time limit for the whole exchange.
func (c Client) doFor(ctx context.Context, timeout time.Duration, method, path string, in, out any) error {
	if out == nil {
		out = &struct{}{}
	}
	var body io.Reader
	if raw, ok := in.(rawBody); ok {
		body = raw.Reader
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://sipguard"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http(timeout).Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return ErrNoDaemon
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("daemon: %s", e.Error)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Status reads the box's state.
func (c Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Bans reads the dynamic list.
func (c Client) Bans(ctx context.Context) (Bans, error) {
	var out Bans
	err := c.do(ctx, http.MethodGet, "/v1/bans", nil, &out)
	return out, err
}

// Report reads the attack report of a period.
func (c Client) Report(ctx context.Context, q ReportQuery) (Report, error) {
	v := url.Values{}
	if q.Day != "" {
		v.Set("day", q.Day)
	}
	if q.Since != 0 {
		v.Set("since", q.Since.String())
	}
	if q.Top != 0 {
		v.Set("top", strconv.Itoa(q.Top))
	}
	path := "/v1/report"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out Report
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// Reload asks the daemon to read its configuration file again.
func (c Client) Reload(ctx context.Context) error {
	var out struct{}
	return c.do(ctx, http.MethodPost, "/v1/reload", nil, &out)
}

// Check says which lists hold an address.
func (c Client) Check(ctx context.Context, addr string) (Check, error) {
	var out Check
	err := c.do(ctx, http.MethodGet, "/v1/check/"+url.PathEscape(addr), nil, &out)
	return out, err
}

// List reads a list.
func (c Client) List(ctx context.Context, list string) ([]Entry, error) {
	var out []Entry
	err := c.do(ctx, http.MethodGet, "/v1/lists/"+list, nil, &out)
	return out, err
}

// Add puts entries on a list, all or none.
func (c Client) Add(ctx context.Context, list string, entries []Entry) (int, error) {
	var r CountResponse
	err := c.do(ctx, http.MethodPost, "/v1/lists/"+list, AddRequest{Entries: entries}, &r)
	return r.Count, err
}

// Remove takes prefixes, or everything, off a list.
func (c Client) Remove(ctx context.Context, list string, prefixes []string, all bool) (int, error) {
	var r CountResponse
	err := c.do(ctx, http.MethodDelete, "/v1/lists/"+list, RemoveRequest{Prefixes: prefixes, All: all}, &r)
	return r.Count, err
}

// Unban lifts dynamic bans.
func (c Client) Unban(ctx context.Context, addrs []string) (int, error) {
	var r UnbanResponse
	err := c.do(ctx, http.MethodPost, "/v1/unban", UnbanRequest{Addresses: addrs}, &r)
	return r.Unbanned, err
}

// Board asks the daemon for its board and LEDs.
func (c Client) Board(ctx context.Context) (Board, error) {
	var b Board
	err := c.do(ctx, http.MethodGet, "/v1/board", nil, &b)
	return b, err
}

// Press presses the simulated board's button for hold, and returns when it
// is released.
func (c Client) Press(ctx context.Context, hold time.Duration) error {
	return c.doFor(ctx, hold+10*time.Second, http.MethodPost, "/v1/button", Press{Hold: hold.String()}, nil)
}

// Halt asks the box to reboot or power off.
func (c Client) Halt(ctx context.Context, action string) error {
	return c.do(ctx, http.MethodPost, "/v1/system/"+action, nil, nil)
}

// Firmware asks for the running firmware and its tamper check.
func (c Client) Firmware(ctx context.Context) (Firmware, error) {
	var f Firmware
	err := c.do(ctx, http.MethodGet, "/v1/firmware", nil, &f)
	return f, err
}

// AckTamper acknowledges the tamper warning.
func (c Client) AckTamper(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/firmware/ack", nil, nil)
}

// Update uploads an update bundle; the daemon verifies and installs it.
func (c Client) Update(ctx context.Context, bundle io.Reader) (Update, error) {
	var u Update
	err := c.doFor(ctx, 10*time.Minute, http.MethodPost, "/v1/update", rawBody{bundle}, &u)
	return u, err
}

// rawBody is a request body sent as it is, not as JSON.
type rawBody struct{ io.Reader }

// GeoIP asks for the country database's state.
func (c Client) GeoIP(ctx context.Context) (GeoIP, error) {
	var g GeoIP
	err := c.do(ctx, http.MethodGet, "/v1/geoip", nil, &g)
	return g, err
}

// UpdateGeoIP asks the daemon to look for a new country database now.
func (c Client) UpdateGeoIP(ctx context.Context) (GeoIP, error) {
	var g GeoIP
	err := c.doFor(ctx, 6*time.Minute, http.MethodPost, "/v1/geoip/update", nil, &g)
	return g, err
}

// Feeds asks for the blocklist feeds' state.
func (c Client) Feeds(ctx context.Context) ([]feeds.Status, error) {
	var st []feeds.Status
	err := c.do(ctx, http.MethodGet, "/v1/feeds", nil, &st)
	return st, err
}

// RefreshFeeds refreshes one feed, or every enabled one, now.
func (c Client) RefreshFeeds(ctx context.Context, name string) ([]feeds.Status, error) {
	var st []feeds.Status
	err := c.doFor(ctx, 10*time.Minute, http.MethodPost, "/v1/feeds/refresh", FeedRefresh{Name: name}, &st)
	return st, err
}

// NotifyStatus asks for the notifications' state, as JSON.
func (c Client) NotifyStatus(ctx context.Context) (json.RawMessage, error) {
	var st json.RawMessage
	err := c.do(ctx, http.MethodGet, "/v1/notify", nil, &st)
	return st, err
}

// TestNotify sends a test message through every configured channel.
func (c Client) TestNotify(ctx context.Context) error {
	return c.doFor(ctx, 2*time.Minute, http.MethodPost, "/v1/notify/test", nil, nil)
}
