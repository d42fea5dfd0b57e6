package cli

import (
	"context"
	"fmt"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"
	"io"
	"net"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/geoip"
	"github.com/sipguard/sipguard/leds"
)

// fakeDaemon is the daemon as its API shows it, with fixed contents, and
// a record of what it was asked to change.
type fakeDaemon struct {
	fakeTokens
	config     string // the configuration file it runs with
	unbanned   []netip.Addr
	permanent  map[netip.Prefix]bool // permanent bans
	moreBans   []api.Ban             // temporary bans beside the scanner's
	queries    []api.ReportQuery
	reloads    int
	presses    []time.Duration
	halts      []string
	acks       int
	uploaded   int
	tamper     []string
	state      *api.StateFile
	rejected   []api.RejectedUpdate
	geoUpdates int
	refreshed  []string
	tests      int
	backups    fakeBackups
	added      map[string][]api.Entry // entries added, by list
	remoteText string                 // the configuration file a box over HTTPS shows
}

func (f *fakeDaemon) Board(context.Context) (api.Board, error) {
	return api.Board{Name: "sim", Title: "simulated board", Simulated: true, Lit: "R○ G○ B○ off",
		LEDs: &leds.Status{Mode: leds.Attack, Look: "amber steady", Faults: leds.FaultWANDown, LEDs: 3}}, nil
}

func (f *fakeDaemon) Press(_ context.Context, hold time.Duration) error {
	f.presses = append(f.presses, hold)
	return nil
}

func (f *fakeDaemon) Firmware(context.Context) (api.Firmware, error) {
	return api.Firmware{Version: "v1.2.0", Board: "rpi4", Slot: "a", Tamper: []string{"cmdline.txt: altered"}, Checked: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}, nil
}

func (f *fakeDaemon) AckTamper(context.Context) error { f.acks++; return nil }

func (f *fakeDaemon) Update(_ context.Context, r io.Reader) (api.Update, error) {
	b, _ := io.ReadAll(r)
	f.uploaded = len(b)
	return api.Update{Version: "v1.3.0", Slot: "b"}, nil
}

func (f *fakeDaemon) GeoIP(context.Context) (api.GeoIP, error) {
	return api.GeoIP{Mode: "block", Countries: []string{"CN", "RU"}, Prefixes: 3,
		Database: &geoip.Info{Type: "GeoLite2-Country", Built: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)}}, nil
}

func (f *fakeDaemon) UpdateGeoIP(context.Context) (api.GeoIP, error) {
	f.geoUpdates++
	return f.GeoIP(context.Background())
}

func (f *fakeDaemon) Feeds(context.Context) ([]feeds.Status, error) {
	return []feeds.Status{{Name: "voipbl", Enabled: true, V4: 12345, LastSuccess: time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)},
		{Name: "apiban", Enabled: false}}, nil
}

func (f *fakeDaemon) RefreshFeeds(_ context.Context, name string) ([]feeds.Status, error) {
	f.refreshed = append(f.refreshed, name)
	return f.Feeds(context.Background())
}

func (f *fakeDaemon) NotifyStatus(context.Context) (any, error) {
	return map[string]any{"smtp": map[string]any{"enabled": true, "sent": 2}}, nil
}

func (f *fakeDaemon) TestNotify(context.Context) error { f.tests++; return nil }

func (f *fakeDaemon) Halt(_ context.Context, action string) error {
	f.halts = append(f.halts, action)
	return nil
}

func (f *fakeDaemon) Status(context.Context) (api.Status, error) {
	return api.Status{Lists: map[string]api.ListSize{"allow": {IPv4: 1}, "permanent": {IPv6: 1}, "dynamic": {IPv4: 1}},
		Counters: map[string]uint64{}, Inspection: map[string]uint64{"frames": 42}, Sources: 3, Config: f.config, Tamper: f.tamper,
		State: f.state, RejectedUpdates: f.rejected}, nil
}

func (f *fakeDaemon) Bans(context.Context) (api.Bans, error) {
	return api.Bans{
		Permanent: []api.Ban{{Source: "2001:db8:bad:1::/64", Reason: "REGISTER brute force", UserAgent: "Asterisk PBX", Country: "NL", At: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}},
		Temporary: append([]api.Ban{{Source: "203.0.113.66/32", Reason: "scanner User-Agent", UserAgent: "friendly-scanner", Expires: 9*time.Minute + 30*time.Second}},
			f.moreBans...),
	}, nil
}

func (f *fakeDaemon) Report(_ context.Context, q api.ReportQuery) (api.Report, error) {
	f.queries = append(f.queries, q)
	from := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	r := api.Report{From: from, To: from.AddDate(0, 0, 1), TopSources: []api.Count{{Value: "203.0.113.66/32", Count: 4}},
		TopUserAgents: []api.Count{{Value: "friendly-scanner", Count: 4}}, TopExtensions: []api.Count{{Value: "1001", Count: 3}}}
	r.Events, r.Bans, r.Permanent = 5, 4, 1
	r.Attacks = map[string]int{"scanner User-Agent": 4}
	return r, nil
}

func (f *fakeDaemon) Reload(context.Context) error { f.reloads++; return nil }

func (f *fakeDaemon) Unban(_ context.Context, ps []netip.Prefix, permanent bool) (api.UnbanResponse, error) {
	var r api.UnbanResponse
	for _, p := range ps {
		switch {
		case permanent && f.permanent[p]:
			r.Unbanned++
			r.Lifted = append(r.Lifted, p.String())
			delete(f.permanent, p)
		case !permanent && f.permanent[p]:
			return api.UnbanResponse{}, fmt.Errorf("%w: %v is banned permanently: lift it with unban --permanent", api.ErrBadRequest, p)
		case permanent:
			r.NotBanned = append(r.NotBanned, p.String())
		default:
			r.Unbanned++
		}
	}
	for _, p := range ps {
		f.unbanned = append(f.unbanned, p.Addr())
	}
	return r, nil
}

func (f *fakeDaemon) List(_ context.Context, list string) ([]api.Entry, error) {
	if list == "allow" {
		return []api.Entry{{Prefix: "198.51.100.0/24", Note: "carrier", By: "cli"}}, nil
	}
	return []api.Entry{}, nil
}

func (f *fakeDaemon) Add(_ context.Context, list string, e []api.Entry) (int, error) {
	if f.added == nil {
		f.added = map[string][]api.Entry{}
	}
	f.added[list] = append(f.added[list], e...)
	return len(e), nil
}
func (f *fakeDaemon) Remove(context.Context, string, []netip.Prefix, bool) (int, error) {
	return 0, nil
}

func (f *fakeDaemon) Check(_ context.Context, a netip.Addr) (api.Check, error) {
	return api.Check{Address: a.String(), Dynamic: &api.Ban{Source: "203.0.113.66/32", Expires: time.Minute}}, nil
}

// serveFake serves f's API on a unix socket in a temporary folder until
// the test ends, and returns the socket.
func serveFake(t *testing.T, f *fakeDaemon) string {
	t.Helper()
	return serveBackend(t, f)
}

// serveBackend serves b's API on a socket of the test.
func serveBackend(t *testing.T, b api.Backend) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api.Handler(b))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}
