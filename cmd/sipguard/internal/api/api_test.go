package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

type fakeBackend struct {
	fakeTokens
	unbanned  []netip.Prefix
	permanent bool
	queries   []ReportQuery
	reloads   int
	reloadErr error
	presses   []time.Duration
	halts     []string
	acks      int
	uploaded  []byte
	tests     int
	password  string // the last backup password given
	restored  []byte // the last backup given to restore
}

func (f *fakeBackend) Board(context.Context) (Board, error) {
	return Board{Name: "sim", Simulated: true, Lit: "R○ G● B○ green"}, nil
}

func (f *fakeBackend) Press(_ context.Context, hold time.Duration) error {
	f.presses = append(f.presses, hold)
	return nil
}

func (f *fakeBackend) Firmware(context.Context) (Firmware, error) {
	return Firmware{Version: "v1.2.0", Board: "rpi4", Slot: "a", Tamper: []string{"cmdline.txt: altered"}}, nil
}

func (f *fakeBackend) AckTamper(context.Context) error { f.acks++; return nil }

func (f *fakeBackend) Update(_ context.Context, r io.Reader) (Update, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return Update{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	f.uploaded = b
	return Update{Version: "v1.3.0", Slot: "b"}, nil
}

func (f *fakeBackend) GeoIP(context.Context) (GeoIP, error) {
	return GeoIP{Mode: "block", Countries: []string{"CN"}, Prefixes: 2}, nil
}

func (f *fakeBackend) UpdateGeoIP(context.Context) (GeoIP, error) {
	return GeoIP{}, fmt.Errorf("%w: no update source", ErrBadRequest)
}

func (f *fakeBackend) Feeds(context.Context) ([]feeds.Status, error) {
	return []feeds.Status{{Name: "voipbl", Enabled: true, V4: 10}}, nil
}

func (f *fakeBackend) RefreshFeeds(_ context.Context, name string) ([]feeds.Status, error) {
	if name == "nope" {
		return nil, fmt.Errorf("%w: no such feed", ErrBadRequest)
	}
	return f.Feeds(context.Background())
}

func (f *fakeBackend) NotifyStatus(context.Context) (any, error) {
	return map[string]any{"smtp": map[string]any{"enabled": true, "sent": 2}}, nil
}

func (f *fakeBackend) TestNotify(context.Context) error { f.tests++; return nil }

func (f *fakeBackend) Halt(_ context.Context, action string) error {
	f.halts = append(f.halts, action)
	return nil
}

func (f *fakeBackend) Bans(context.Context) (Bans, error) {
	return Bans{Permanent: []Ban{}, Temporary: []Ban{{Source: "203.0.113.66/32", Reason: "scanner User-Agent", UserAgent: "friendly-scanner", Expires: 9 * time.Minute}}}, nil
}

func (f *fakeBackend) Report(_ context.Context, q ReportQuery) (Report, error) {
	f.queries = append(f.queries, q)
	r := Report{}
	r.Bans = 3
	return r, nil
}

func (f *fakeBackend) Reload(context.Context) error {
	f.reloads++
	return f.reloadErr
}

func (f *fakeBackend) Status(context.Context) (Status, error) {
	return Status{Lists: map[string]ListSize{"allow": {IPv4: 2}}, Sources: 7}, nil
}

func (f *fakeBackend) Check(_ context.Context, a netip.Addr) (Check, error) {
	return Check{Address: a.String()}, nil
}

func (f *fakeBackend) List(context.Context, string) ([]Entry, error)           { return nil, nil }
func (f *fakeBackend) Add(_ context.Context, _ string, e []Entry) (int, error) { return len(e), nil }
func (f *fakeBackend) Remove(context.Context, string, []netip.Prefix, bool) (int, error) {
	return 0, nil
}

func (f *fakeBackend) Unban(_ context.Context, ps []netip.Prefix, permanent bool) (UnbanResponse, error) {
	f.unbanned = append(f.unbanned, ps...)
	f.permanent = permanent
	return UnbanResponse{Unbanned: len(ps)}, nil
}

func TestServeAndClient(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	b := &fakeBackend{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Serve(ctx, sock, b, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	c := Client{Socket: sock}
	var st Status
	var err error
	for range 100 { // wait for the socket
		if st, err = c.Status(context.Background()); !errors.Is(err, ErrNoDaemon) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || st.Sources != 7 || st.Lists["allow"].IPv4 != 2 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if r, err := c.Unban(context.Background(), []string{"203.0.113.66", "2001:db8::1"}, false); err != nil || r.Unbanned != 2 || b.permanent {
		t.Errorf("Unban = %+v, %v (permanent %v)", r, err, b.permanent)
	}
	// Networks too, and permanent bans when asked.
	if r, err := c.Unban(context.Background(), []string{"203.0.113.0/24"}, true); err != nil || r.Unbanned != 1 || !b.permanent ||
		b.unbanned[len(b.unbanned)-1] != netip.MustParsePrefix("203.0.113.0/24") {
		t.Errorf("Unban of a network, permanent = %+v, %v (permanent %v, %v)", r, err, b.permanent, b.unbanned)
	}
	// Bad input is refused with its reason and changes nothing.
	if _, err := c.Unban(context.Background(), []string{"203.0.113.66", "not-an-ip"}, false); err == nil || !strings.Contains(err.Error(), "addresses[1]") {
		t.Errorf("bad address: %v", err)
	}
	if _, err := c.Add(context.Background(), "allow", []Entry{{Prefix: "198.51.100.0/24"}, {Prefix: "198.51.100.7/24"}}); err == nil || !strings.Contains(err.Error(), "entries[1]") {
		t.Errorf("an entry with host bits was accepted: %v", err)
	}
	if _, err := c.Add(context.Background(), "gray", []Entry{{Prefix: "198.51.100.0/24"}}); err == nil || !strings.Contains(err.Error(), "no list") {
		t.Errorf("unknown list: %v", err)
	}
	if ch, err := c.Check(context.Background(), "::ffff:203.0.113.66"); err != nil || ch.Address != "203.0.113.66" {
		t.Errorf("Check = %+v, %v", ch, err)
	}
	if _, err := c.Check(context.Background(), "example.com"); err == nil {
		t.Error("Check accepted a name")
	}
	if len(b.unbanned) != 3 { // the bad request reached nothing
		t.Errorf("backend saw %v", b.unbanned)
	}
	// A second daemon on the same socket is refused.
	if err := Serve(context.Background(), sock, b, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("two daemons on one socket")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("after shutdown: %v", err)
	}
}

// serve runs the API over a unix socket in a temporary folder until the
// test ends, and returns a client of it.
func serve(t *testing.T, b Backend) Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Serve(ctx, sock, b, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() { cancel(); <-done })
	c := Client{Socket: sock}
	for range 100 {
		if _, err := c.Status(context.Background()); !errors.Is(err, ErrNoDaemon) {
			return c
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the API did not come up")
	return c
}

func TestBansReportReload(t *testing.T) {
	b := &fakeBackend{}
	c := serve(t, b)
	ctx := context.Background()
	bans, err := c.Bans(ctx)
	if err != nil || len(bans.Temporary) != 1 || bans.Temporary[0].UserAgent != "friendly-scanner" || bans.Temporary[0].Expires != 9*time.Minute {
		t.Errorf("Bans = %+v, %v", bans, err)
	}
	for _, q := range []ReportQuery{{}, {Day: "2026-11-24", Top: 3}, {Since: 90 * time.Minute}} {
		r, err := c.Report(ctx, q)
		if err != nil || r.Bans != 3 {
			t.Errorf("Report(%+v) = %+v, %v", q, r, err)
		}
	}
	want := []ReportQuery{{Top: DefaultTop}, {Day: "2026-11-24", Top: 3}, {Since: 90 * time.Minute, Top: DefaultTop}}
	if !reflect.DeepEqual(b.queries, want) {
		t.Errorf("the backend was asked %+v, want %+v", b.queries, want)
	}
	if err := c.Reload(ctx); err != nil || b.reloads != 1 {
		t.Errorf("Reload: %v (%d reloads)", err, b.reloads)
	}
	b.reloadErr = errors.New("sip.register_limit: 0 is outside 1-1000")
	if err := c.Reload(ctx); err == nil || !strings.Contains(err.Error(), "sip.register_limit") {
		t.Errorf("a failed reload: %v", err)
	}
}

// Bad report parameters are refused with their reason; the backend is
// not asked.
func TestReportBadQuery(t *testing.T) {
	b := &fakeBackend{}
	h := Handler(b)
	for query, want := range map[string]string{
		"day=24/11/2026":              "not a date",
		"since=yesterday":             "not a positive duration",
		"since=-1h":                   "not a positive duration",
		"day=2026-11-24&since=1h":     "not both",
		"top=0":                       "top",
		"top=100000":                  "top",
		"days=2026-11-24":             "unknown parameter",
		"day=2026-11-24&top=ten&x=1":  "unknown parameter",
		"day=2026-02-30":              "not a date",
		"since=1h&top=5&day=2026-1-1": "not a date",
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/report?"+query, nil))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: %d %s, want 400 mentioning %q", query, w.Code, w.Body.String(), want)
		}
	}
	if len(b.queries) != 0 {
		t.Errorf("the backend was asked %+v", b.queries)
	}
}

func TestBoardButtonHalt(t *testing.T) {
	b := &fakeBackend{}
	c := serve(t, b)
	ctx := context.Background()
	got, err := c.Board(ctx)
	if err != nil || got.Name != "sim" || !got.Simulated || got.Lit != "R○ G● B○ green" {
		t.Errorf("board: %+v, %v", got, err)
	}
	if err := c.Press(ctx, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := c.Halt(ctx, HaltPowerOff); err != nil {
		t.Fatal(err)
	}
	// Bad requests reach nothing.
	h := Handler(b)
	for _, bad := range []struct{ path, body string }{
		{"/v1/button", `{"hold":"forever"}`},
		{"/v1/button", `{"hold":"-1s"}`},
		{"/v1/button", `{"hold":"2h"}`},
		{"/v1/button", `{"hold":"1s","extra":1}`},
		{"/v1/system/dance", ``},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, bad.path, strings.NewReader(bad.body)))
		if w.Code != http.StatusBadRequest {
			t.Errorf("POST %s %s: %d %s", bad.path, bad.body, w.Code, w.Body)
		}
	}
	if len(b.presses) != 1 || b.presses[0] != 1500*time.Millisecond || len(b.halts) != 1 || b.halts[0] != HaltPowerOff {
		t.Errorf("presses %v halts %v", b.presses, b.halts)
	}
}

func TestFirmwareAndUpdate(t *testing.T) {
	b := &fakeBackend{}
	c := serve(t, b)
	ctx := context.Background()
	f, err := c.Firmware(ctx)
	if err != nil || f.Slot != "a" || len(f.Tamper) != 1 {
		t.Errorf("firmware: %+v %v", f, err)
	}
	if err := c.AckTamper(ctx); err != nil || b.acks != 1 {
		t.Errorf("ack: %v %d", err, b.acks)
	}
	bundle := bytes.Repeat([]byte("bundle "), 100000) // streamed as it is, not as JSON
	u, err := c.Update(ctx, bytes.NewReader(bundle))
	if err != nil || u.Version != "v1.3.0" || !bytes.Equal(b.uploaded, bundle) {
		t.Errorf("update: %+v %v (%d bytes arrived)", u, err, len(b.uploaded))
	}
}
