package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"
	"github.com/sipguard/sipguard/leds"
	"github.com/sipguard/sipguard/netfilter"
)

// fake is a daemon in memory: lists, bans, a configuration file's text
// edited with the configuration's own rules, an attack log.
type fake struct {
	mu         sync.Mutex
	lists      map[string][]api.Entry
	bans       api.Bans
	unbanned   []netip.Prefix
	permanent  bool
	file       []byte // the configuration file
	reloads    int
	events     []api.Event // newest first
	activity   map[string]api.Activity
	firmware   api.Firmware
	acks       int
	bundle     []byte
	halts      []string
	tests      int
	refreshed  []string
	geoUpdates int
	restored   []byte
	password   string
}

func newFake() *fake {
	return &fake{
		lists: map[string][]api.Entry{
			"allow": {{Prefix: "192.0.2.0/24", Note: "office", Added: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), By: "cli"}},
			"deny":  {},
		},
		bans: api.Bans{
			Temporary: []api.Ban{{Source: "203.0.113.7/32", Reason: "register-flood", UserAgent: "friendly-scanner", Country: "NL", Expires: 9*time.Minute + 30*time.Second}},
			Permanent: []api.Ban{{Source: "198.51.100.0/24", Reason: "scanner", UserAgent: "sipvicious", Country: "CN", At: time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), Bans: 5}},
		},
		file: []byte("# the box's settings\n[sip]\nregister_limit = 7 # per minute\n"),
		events: []api.Event{
			{ID: "0002", Time: time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC), Action: "ban", Source: "203.0.113.7", Reason: "register-flood", UserAgent: "friendly-scanner", Country: "NL", Extension: "201"},
			{ID: "0001", Time: time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC), Action: "alert", Source: "203.0.113.9", Reason: "toll-fraud", Extension: "105"},
		},
		activity: map[string]api.Activity{},
		firmware: api.Firmware{Version: "v1.4.0", Board: "rpi4", Slot: "a", Signed: "v1.4.0"},
	}
}

var _ Backend = (*fake)(nil)

func (f *fake) Status(context.Context) (api.Status, error) {
	return api.Status{Lists: map[string]api.ListSize{"allow": {IPv4: 1}, "deny": {}, "permanent": {IPv4: 1}, "dynamic": {IPv4: 1}, "feeds": {IPv4: 4321, IPv6: 12}},
		Counters: map[string]uint64{netfilter.CounterDynamic: 9876}, Inspection: map[string]uint64{"frames": 123456}, Sources: 42, FirstPacket: "on"}, nil
}

func (f *fake) Bans(context.Context) (api.Bans, error) { return f.bans, nil }

func (f *fake) Report(context.Context, api.ReportQuery) (api.Report, error) { return api.Report{}, nil }

func (f *fake) Reload(context.Context) error { f.reloads++; return nil }

func (f *fake) Unban(_ context.Context, ps []netip.Prefix, permanent bool) (api.UnbanResponse, error) {
	for _, p := range ps {
		if !permanent && p == netip.MustParsePrefix("198.51.100.0/24") {
			return api.UnbanResponse{}, fmt.Errorf("%w: 198.51.100.0/24 is banned permanently: lift it with unban --permanent", api.ErrBadRequest)
		}
	}
	f.unbanned, f.permanent = append(f.unbanned, ps...), permanent
	return api.UnbanResponse{Unbanned: len(ps)}, nil
}

func (f *fake) List(_ context.Context, list string) ([]api.Entry, error) {
	return slices.Clone(f.lists[list]), nil
}

func (f *fake) Add(_ context.Context, list string, entries []api.Entry) (int, error) {
	f.lists[list] = append(f.lists[list], entries...)
	return len(entries), nil
}

func (f *fake) Remove(_ context.Context, list string, ps []netip.Prefix, all bool) (int, error) {
	before := len(f.lists[list])
	if all {
		f.lists[list] = nil
		return before, nil
	}
	f.lists[list] = slices.DeleteFunc(f.lists[list], func(e api.Entry) bool {
		return slices.Contains(ps, netip.MustParsePrefix(e.Prefix))
	})
	return before - len(f.lists[list]), nil
}

func (f *fake) Check(context.Context, netip.Addr) (api.Check, error) { return api.Check{}, nil }

func (f *fake) Board(context.Context) (api.Board, error) {
	return api.Board{Name: "rpi4", Title: "Raspberry Pi 4", LEDs: &leds.Status{Mode: leds.Attack, Look: "amber steady", Ready: true, Faults: leds.FaultLANDown}}, nil
}

func (f *fake) Press(context.Context, time.Duration) error { return nil }

func (f *fake) Halt(_ context.Context, action string) error {
	f.halts = append(f.halts, action)
	return nil
}

func (f *fake) Firmware(context.Context) (api.Firmware, error) { return f.firmware, nil }

func (f *fake) AckTamper(context.Context) error {
	f.acks++
	f.firmware.Acknowledged = true
	return nil
}

func (f *fake) Update(_ context.Context, r io.Reader) (api.Update, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return api.Update{}, err
	}
	if !bytes.HasPrefix(b, []byte("signed")) {
		return api.Update{}, fmt.Errorf("%w: the bundle's signature does not verify", api.ErrBadRequest)
	}
	f.bundle = b
	return api.Update{Version: "v1.5.0", Slot: "b"}, nil
}

func (f *fake) GeoIP(context.Context) (api.GeoIP, error) {
	return api.GeoIP{Mode: "block", Countries: []string{"CN", "RU"}, Prefixes: 8123}, nil
}

func (f *fake) UpdateGeoIP(context.Context) (api.GeoIP, error) {
	f.geoUpdates++
	return api.GeoIP{}, fmt.Errorf("%w: no update source configured", api.ErrBadRequest)
}

func (f *fake) Feeds(context.Context) ([]feeds.Status, error) {
	return []feeds.Status{{Name: "voipbl", Enabled: true, V4: 4321}, {Name: "spamhaus_drop", Enabled: true, V4: 800, V6: 12}}, nil
}

func (f *fake) RefreshFeeds(_ context.Context, name string) ([]feeds.Status, error) {
	f.refreshed = append(f.refreshed, name)
	return f.Feeds(context.Background())
}

func (f *fake) NotifyStatus(context.Context) (any, error) {
	return map[string]any{"smtp": map[string]any{"enabled": true, "sent": 3}}, nil
}

func (f *fake) TestNotify(context.Context) error { f.tests++; return nil }

func (f *fake) Backup(_ context.Context, password string) ([]byte, error) {
	if len(password) < 12 {
		return nil, fmt.Errorf("%w: the password is too short: at least 12 characters", api.ErrBadRequest)
	}
	f.password = password
	return []byte("age-encryption.org/v1\nsealed"), nil
}

func (f *fake) Restore(_ context.Context, password string, file []byte) (api.Restored, error) {
	if password != "correct horse battery" || !bytes.HasPrefix(file, []byte("age-encryption.org/v1\n")) {
		return api.Restored{}, errors.Join(api.ErrBadRequest, errors.New("wrong password, or the file is not a sipguard backup or was altered"))
	}
	f.restored = file
	return api.Restored{Firmware: "v1.4.0", Allow: 2, Deny: 1, Permanent: 3, Config: true}, nil
}

// Config reads the configuration file's keys as the daemon does.
func (f *fake) Config(context.Context) (api.Config, error) {
	out := api.Config{File: "/data/sipguard.toml", Text: string(f.file)}
	for _, k := range config.Keys() {
		s, err := config.Lookup(k)
		if err != nil {
			return out, err
		}
		v, err := config.Value(f.file, k)
		if err != nil {
			return out, err
		}
		out.Keys = append(out.Keys, api.ConfigKey{Key: k, Kind: s.Kind, Default: s.Default, Value: v})
	}
	return out, nil
}

// SetConfig edits the file as the daemon does: config.Apply, all or none.
func (f *fake) SetConfig(_ context.Context, changes []api.ConfigChange) (api.ConfigResult, error) {
	cs := make([]config.Change, len(changes))
	for i, c := range changes {
		cs[i] = config.Change{Key: c.Key, Value: c.Value}
	}
	edited, err := config.Apply(f.file, cs...)
	if err != nil {
		return api.ConfigResult{}, api.ConfigErrorOf(err)
	}
	f.file = edited
	f.reloads++
	return api.ConfigResult{Changed: len(changes), Applied: true}, nil
}

func (f *fake) Events(_ context.Context, q api.EventsQuery) ([]api.Event, error) {
	var out []api.Event
	for _, e := range f.events {
		if q.After != "" && e.ID <= q.After {
			break
		}
		out = append(out, e)
	}
	return out[:min(len(out), q.Limit)], nil
}

func (f *fake) Activity(_ context.Context, step string) (api.Activity, error) {
	return f.activity[step], nil
}

// The API's tokens are the web server's; the pages use Options.Tokens.
func (f *fake) Tokens(context.Context) ([]api.Token, error) { return nil, nil }
func (f *fake) CreateToken(context.Context, string) (api.NewToken, error) {
	return api.NewToken{}, errors.New("fake: no tokens")
}
func (f *fake) RevokeToken(context.Context, string) error { return errors.New("fake: no tokens") }

// CrowdSec implements api.CrowdSecBackend: a bouncer that pulled, an
// agent that cannot reach the local API.
func (f *fake) CrowdSec(context.Context) (crowdsec.Status, error) {
	return crowdsec.Status{Mode: crowdsec.Mode("both"), URL: "http://198.51.100.50:8080/",
		Bouncer: &crowdsec.BouncerStatus{Link: crowdsec.Link{State: crowdsec.StateOK}, Decisions: 12, V4: 11, V6: 1},
		Agent:   &crowdsec.AgentStatus{Link: crowdsec.Link{State: crowdsec.StateDown, LastError: "connection refused"}, Sent: 4, Queued: 2}}, nil
}
