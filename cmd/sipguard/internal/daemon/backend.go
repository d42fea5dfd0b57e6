package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/netmgmt"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/pipeline"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/tollfraud"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

// backend is the running daemon as the local API sees it.
type backend struct {
	fw     *netfilter.Firewall
	engine *sip.Engine // nil when inspection is off
	state  *store.Store
	// firstPacket is the first-packet verdict, for the status.
	firstPacket *firstPacket
	// stateFile is the state file as it was opened at start.
	stateFile api.StateFile
	inspect   *pipeline.InspectStats // nil when inspection is off
	enforcer  *pipeline.Enforcer
	tollfraud *tollfraud.Watch // nil when inspection is off
	// settings puts a new configuration, or the state file's lists, in
	// force.
	settings   chan settingsReq
	configFile string
	configMu   sync.Mutex             // one change of the configuration file at a time
	version    string                 // the firmware's, as backups record it
	reread     func() (Config, error) // nil without a configuration file
	hw         *hardware
	halt       func(action string) error // nil when not under the box's init
	firmware   *firmwareWatch
	geo        *geo
	lists      *blocklists
	mgmt       *netmgmt.Manager // the management address, clock and mDNS name
	notify     *notifier
	web        *site
	obs        *observer // metrics and the remote syslog; nil when off
	fleet      *fleet    // CrowdSec
}

// settingsReq asks Run to put next in force, or with next nil the state
// file's lists, and waits for the outcome.
type settingsReq struct {
	next *Config
	done chan error
}

var _ api.Backend = (*backend)(nil)

func (b *backend) Status(context.Context) (api.Status, error) {
	st, err := b.fw.Stats()
	if err != nil {
		return api.Status{}, err
	}
	out := api.StatusOf(st)
	if b.inspect != nil {
		for name, v := range b.inspect.Map() {
			out.Inspection[name] = v
		}
		p := b.enforcer.Stats()
		out.Inspection["decisions_dropped"] = p.DecisionsDropped + p.RecordsDropped
		out.Inspection["kernel_errors"], out.Inspection["state_errors"] = p.KernelErrors, p.JournalErrors
		out.Inspection["bans_evicted"] = p.BansEvicted
		if b.state != nil {
			out.Inspection["history_evicted"] = b.state.HistoryEvicted()
		}
	}
	if b.firstPacket != nil {
		var counts map[string]uint64
		out.FirstPacket, counts = b.firstPacket.status()
		for name, v := range counts {
			out.Inspection[name] = v
		}
	}
	if b.engine != nil {
		es := b.engine.Stats()
		out.Sources = es.Tracked
		out.Inspection["evicted_active"], out.Inspection["framing_ignored"] = es.EvictedActive, es.FramingIgnored
	}
	if b.tollfraud != nil {
		ts := b.tollfraud.Stats()
		out.Inspection["outbound_calls"], out.Inspection["toll_alerts"], out.Inspection["outbound_evicted"] = ts.Calls, ts.Alerts, ts.Evicted
	}
	out.Config = b.configFile
	if b.mgmt != nil {
		out.Management = managementStatus(b.mgmt.Status())
	}
	if b.firmware != nil {
		f := b.firmware.get()
		if !f.Acknowledged {
			out.Tamper = f.Tamper
		}
		out.RejectedUpdates = f.Rejected
	}
	if l := b.obs.syslogLogger(); l != nil {
		st := l.Status()
		out.Syslog = &st
	}
	sf := b.stateFile
	sf.SetAside = append([]string(nil), sf.SetAside...)
	out.State = &sf
	if srv := b.webServer(); srv != nil {
		out.Dashboard = srv.Status()
	}
	return out, nil
}

var errNoState = errors.New("lists are kept in the state file: start the daemon with --state")

func listOf(name string) store.List {
	if name == "deny" {
		return store.Deny
	}
	return store.Allow
}

func (b *backend) List(_ context.Context, list string) ([]api.Entry, error) {
	if b.state == nil {
		return nil, errNoState
	}
	entries, err := b.state.Entries(listOf(list))
	if err != nil {
		return nil, err
	}
	out := make([]api.Entry, len(entries))
	for i, e := range entries {
		out[i] = api.Entry{Prefix: e.Prefix.String(), Note: e.Note, Added: e.Added, By: e.By}
	}
	return out, nil
}

// Add writes the entries to the state file, then puts the lists in force.
func (b *backend) Add(ctx context.Context, list string, entries []api.Entry) (int, error) {
	if b.state == nil {
		return 0, errNoState
	}
	now := time.Now().UTC()
	es := make([]store.Entry, 0, len(entries))
	for _, e := range entries {
		p, err := netfilter.ParsePrefix(e.Prefix)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
		}
		es = append(es, store.Entry{Prefix: p, Note: e.Note, Added: now, By: e.By})
	}
	if err := b.state.Add(listOf(list), es...); err != nil {
		return 0, err
	}
	return len(es), b.apply(ctx)
}

func (b *backend) Remove(ctx context.Context, list string, prefixes []netip.Prefix, all bool) (int, error) {
	if b.state == nil {
		return 0, errNoState
	}
	var n int
	var err error
	if all {
		n, err = b.state.Clear(listOf(list))
	} else {
		n, err = b.state.Remove(listOf(list), prefixes...)
	}
	if err != nil {
		return 0, err
	}
	return n, b.apply(ctx)
}

// apply puts the state file's lists in force.
func (b *backend) apply(ctx context.Context) error { return b.change(ctx, nil) }

var errNoConfig = errors.New("the daemon runs without a configuration file (daemon --config)")

// Reload reads the configuration file again and puts it in force; a bad
// file, or a change that needs a restart, changes nothing.
func (b *backend) Reload(ctx context.Context) error {
	if b.reread == nil {
		return errNoConfig
	}
	next, err := b.reread()
	if err != nil {
		return fmt.Errorf("configuration not applied; the last one stays in force: %w", err)
	}
	if err := b.change(ctx, &next); err != nil {
		return fmt.Errorf("configuration not applied; the last one stays in force: %w", err)
	}
	return nil
}

func (b *backend) change(ctx context.Context, next *Config) error {
	done := make(chan error, 1)
	select {
	case b.settings <- settingsReq{next: next, done: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Check says which lists hold a, and why.
func (b *backend) Check(_ context.Context, a netip.Addr) (api.Check, error) {
	out := api.Check{Address: a.String(), Country: b.geo.country(a)}
	if b.state != nil {
		for _, l := range []struct {
			list store.List
			dst  *[]api.Entry
		}{{store.Allow, &out.Allow}, {store.Deny, &out.Deny}} {
			entries, err := b.state.Entries(l.list)
			if err != nil {
				return out, err
			}
			for _, e := range entries {
				if e.Prefix.Contains(a) {
					*l.dst = append(*l.dst, api.Entry{Prefix: e.Prefix.String(), Note: e.Note, Added: e.Added, By: e.By})
				}
			}
		}
		perms, err := b.state.Permanents()
		if err != nil {
			return out, err
		}
		for _, p := range perms {
			if p.Prefix.Contains(a) {
				out.Permanent = &api.Ban{Source: p.Prefix.String(), Reason: p.Reason, At: p.At, Bans: p.Bans}
			}
		}
	}
	bans, err := b.fw.Bans()
	if err != nil {
		return out, err
	}
	for _, ban := range bans {
		if ban.Prefix.Contains(a) {
			out.Dynamic = &api.Ban{Source: ban.Prefix.String(), Expires: ban.Expires}
		}
	}
	return out, nil
}

// Board implements api.Backend.
func (b *backend) Board(context.Context) (api.Board, error) {
	hw := b.hw
	if hw == nil || hw.board == nil {
		return api.Board{}, nil
	}
	out := api.Board{Name: hw.profile.Name, Title: hw.profile.Title}
	if hw.leds != nil {
		st := hw.leds.Status()
		out.LEDs = &st
	}
	if sim := hw.simulated(); sim != nil {
		out.Simulated, out.Lit = true, sim.LEDs().String()
	}
	return out, nil
}

// Press implements api.Backend.
func (b *backend) Press(ctx context.Context, hold time.Duration) error {
	if b.hw == nil || b.hw.simulated() == nil {
		return fmt.Errorf("%w: only the simulated board's button is pressed through the API", api.ErrBadRequest)
	}
	return b.hw.simulated().Press(ctx, hold)
}

// Halt implements api.Backend: the box's init, the service's parent,
// reboots on SIGTERM and powers off on SIGUSR2.
func (b *backend) Halt(_ context.Context, action string) error {
	if b.halt == nil {
		return fmt.Errorf("%w: the service does not run under the box's init: reboot or power off the host yourself", api.ErrBadRequest)
	}
	return b.halt(action)
}

// Firmware implements api.Backend.
func (b *backend) Firmware(context.Context) (api.Firmware, error) { return b.firmware.get(), nil }

// AckTamper implements api.Backend.
func (b *backend) AckTamper(context.Context) error { return b.firmware.acknowledge() }

// Update implements api.Backend.
func (b *backend) Update(_ context.Context, bundle io.Reader) (api.Update, error) {
	return b.firmware.update(bundle)
}

// GeoIP implements api.Backend.
func (b *backend) GeoIP(context.Context) (api.GeoIP, error) { return b.geo.status(), nil }

// UpdateGeoIP implements api.Backend.
func (b *backend) UpdateGeoIP(ctx context.Context) (api.GeoIP, error) { return b.geo.update(ctx) }

// Feeds implements api.Backend.
func (b *backend) Feeds(context.Context) ([]feeds.Status, error) { return b.lists.m.Status(), nil }

// RefreshFeeds implements api.Backend.
func (b *backend) RefreshFeeds(ctx context.Context, name string) ([]feeds.Status, error) {
	return b.lists.refresh(ctx, name)
}

// NotifyStatus implements api.Backend.
func (b *backend) NotifyStatus(context.Context) (any, error) { return b.notify.status() }

// TestNotify implements api.Backend.
func (b *backend) TestNotify(ctx context.Context) error { return b.notify.test(ctx) }
