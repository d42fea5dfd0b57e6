// Package daemon runs the box's service: it brings up the bridge, applies
// the ruleset, watches the SIP traffic on both ports and bans what the
// detection engine decides, until it is told to stop.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/pipeline"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/tollfraud"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

// Config is what the daemon runs with: the configuration, and what only
// the running service has.
type Config struct {
	config.Config
	// API is the local API's unix socket; empty serves none.
	API string
	// ConfigFile is the configuration file the daemon runs with, if any.
	ConfigFile string
	// Version is the firmware's version, as backups record it.
	Version string
	// Reload reads the configuration again (the API's reload); nil when
	// there is no file to read.
	Reload func() (Config, error)
	// FactoryDefaults writes the default configuration file (the factory
	// reset); nil when there is no file.
	FactoryDefaults func() error
	// Halt asks the box's init to reboot or power off (api.HaltReboot,
	// api.HaltPowerOff); nil when the service does not run under it.
	Halt func(action string) error
	// Firmware is the running firmware: its root slot, checked against its
	// signed manifest, and where updates go.
	Firmware Firmware
}

// startInspection opens a capture on each port and starts the ban
// pipeline: inspection, the engine and the enforcer. It returns how to put
// new settings in force, and fills in the API's view of the inspection.
func startInspection(ctx context.Context, g *errgroup.Group, log *slog.Logger, cfg Config, fw *netfilter.Firewall, state *store.Store, be *backend, hw *hardware, countries *geo, fp *firstPacket) (func(Config) error, error) {
	rules := cfg.Rules
	opts := pipeline.Options{Log: log, Kernel: fw, Rules: rules, Threshold: cfg.SIP.BlockThreshold, BanDecay: cfg.BanDecay,
		Hooks: pipeline.Hooks{Banned: hw.banned, Country: countries.country, Alert: be.alert, KernelFault: hw.kernelFault, Applied: be.obs.applied, Decided: be.fleet.decided}}
	if state != nil {
		opts.Journal, opts.JournalFault = state, hw.storeFault
	}
	enf, err := pipeline.New(opts)
	if err != nil {
		return nil, err
	}
	sipRules := cfg.SIP
	sipRules.Allowed = allowlist(rules.Allow)
	sipRules.Country = countries.country // for the hijack's change of country
	engine, err := sip.NewEngine(sipRules, sip.DefaultSources, enf.Submit)
	if err != nil {
		return nil, err
	}
	watch, err := tollfraud.New(cfg.TollFraud, enf.Submit)
	if err != nil {
		return nil, err
	}
	ports := rules.SIPPorts
	var caps []*sip.Capture
	for _, iface := range []string{cfg.Bridge.WAN, cfg.Bridge.LAN} {
		c, err := sip.Listen(iface, ports, rules.SIPUDP, rules.SIPTCP)
		if err != nil {
			for _, c := range caps {
				c.Close()
			}
			return nil, err
		}
		caps = append(caps, c)
	}
	var (
		st         pipeline.InspectStats
		inspecting sync.WaitGroup
	)
	be.engine, be.inspect, be.enforcer, be.tollfraud = engine, &st, enf, watch
	inspecting.Add(2)
	g.Go(func() error { return enf.Run(ctx) })
	fp.start(ctx, g, engine)
	for i, dir := range []sip.Direction{sip.FromWAN, sip.FromLAN} {
		c, iface := caps[i], []string{cfg.Bridge.WAN, cfg.Bridge.LAN}[i]
		g.Go(func() error {
			defer inspecting.Done()
			defer c.Close()
			return pipeline.InspectWith(ctx, c, dir, engine, &st, pipeline.InspectOptions{Suspect: engine.Suspect, Outbound: watch.Observe})
		})
		g.Go(func() error { return pipeline.WatchDrops(ctx, log, c, iface, 10*time.Second, &st, hw.captureFault) })
	}
	g.Go(func() error {
		<-ctx.Done()
		inspecting.Wait()
		args := []any{"pipeline", enf.Stats()}
		for k, v := range st.Map() {
			args = append(args, k, v)
		}
		log.Info("inspection stopped", args...)
		return nil
	})
	log.Info("inspecting SIP", "ports", rules.SIPPorts, "udp", rules.SIPUDP, "tcp", rules.SIPTCP)
	apply := func(c Config) error {
		if err := enf.Reload(ctx, c.Rules, c.SIP.BlockThreshold, c.BanDecay); err != nil {
			return err
		}
		sr := c.SIP
		sr.Allowed = allowlist(c.Rules.Allow)
		sr.Country = countries.country
		if err := watch.SetRules(c.TollFraud); err != nil {
			return err
		}
		return engine.SetRules(sr) // validated before: cannot fail
	}
	return apply, nil
}

// reloadable reports what of next cannot change while the daemon runs.
func reloadable(cur, next Config) error {
	if err := next.Rules.Validate(); err != nil {
		return err
	}
	if err := next.SIP.Validate(); err != nil {
		return err
	}
	if err := next.TollFraud.Validate(); err != nil {
		return err
	}
	switch {
	case cur.Bridge.Name != next.Bridge.Name || cur.Bridge.WAN != next.Bridge.WAN || cur.Bridge.LAN != next.Bridge.LAN:
		return errors.New("the ports and bridge change only with a restart")
	case cur.State != next.State:
		return errors.New("the state file changes only with a restart")
	case cur.Web != next.Web:
		return errors.New("the dashboard's ports change only with a restart")
	case cur.GeoIP.Database != next.GeoIP.Database || cur.GeoIP.Every != next.GeoIP.Every ||
		cur.GeoIP.Update.URL != next.GeoIP.Update.URL || cur.GeoIP.Update.ChecksumURL != next.GeoIP.Update.ChecksumURL ||
		cur.GeoIP.Update.AccountID != next.GeoIP.Update.AccountID || cur.GeoIP.Update.LicenseKey != next.GeoIP.Update.LicenseKey:
		return errors.New("the country database's file and update source change only with a restart")
	case !slices.Equal(cur.Rules.SIPPorts, next.Rules.SIPPorts) || cur.Rules.SIPUDP != next.Rules.SIPUDP || cur.Rules.SIPTCP != next.Rules.SIPTCP:
		return errors.New("the SIP ports and protocols of the capture change only with a restart")
	}
	return nil
}

// Run brings up the bridge and the ruleset, calls ready once the box
// protects, and blocks until ctx is canceled. Meanwhile it keeps the box
// on the office network (a DHCP lease, the clock, mDNS: startManagement).
func Run(ctx context.Context, log *slog.Logger, cfg Config, ready func(), reloads <-chan Config) error {
	if cfg.OnStop != config.KeepRules && cfg.OnStop != config.RemoveRules {
		return fmt.Errorf("on-stop: %q is not keep or remove", cfg.OnStop)
	}
	raisePriority(log)
	hw, err := openBoard(ctx, &cfg, os.DirFS("/"), log)
	if err != nil {
		return err
	}
	defer hw.close()
	cfg.Rules.WAN, cfg.Rules.LAN = cfg.Bridge.WAN, cfg.Bridge.LAN
	if err := cfg.Rules.Validate(); err != nil {
		return err
	}
	fw, err := netfilter.Open()
	if err != nil {
		return err
	}
	defer fw.Close()
	// The configuration's ruleset goes in first, before anything that can
	// fail and before the bridge forwards: at boot nothing crosses the box
	// unfiltered, whatever the disk holds. After a restart the ruleset of
	// before still protects: it stays until the full one replaces it.
	if _, err := fw.Stats(); errors.Is(err, netfilter.ErrNoRuleset) {
		if err := fw.Apply(cfg.Rules); err != nil {
			return err
		}
	}
	// The first-packet verdict's tables go in before the bridge forwards;
	// without them, nothing is marked for them.
	fp := openFirstPacket(log, cfg.Rules.FirstPacket && cfg.Rules.SIPUDP)
	defer fp.close(false)
	cfg.Rules.FirstPacket = fp.on()
	base := cfg // the configuration alone, without the state file's lists
	base.Rules.Allow, base.Rules.Deny, base.Rules.Permanent = slices.Clone(cfg.Rules.Allow), slices.Clone(cfg.Rules.Deny), slices.Clone(cfg.Rules.Permanent)
	state := openState(log, cfg.State, os.TempDir(), time.Now())
	defer state.close()
	st := state.store
	if state.lost {
		hw.stateLost()
	}
	var (
		restored []netfilter.Ban
		stored   bool // the state file's lists are in cfg.Rules
	)
	if st != nil {
		full := cfg.Rules
		full.Allow, full.Deny, full.Permanent = slices.Clone(full.Allow), slices.Clone(full.Deny), slices.Clone(full.Permanent)
		bans, err := restore(st, &full)
		if err != nil {
			log.Error("state file: lists and bans not restored; the configuration's are in force", "file", state.status.Path, "err", err)
		} else {
			cfg.Rules, restored, stored = full, bans, true
			log.Info("state restored", "file", state.status.Path, "allow", len(cfg.Rules.Allow), "deny", len(cfg.Rules.Deny),
				"permanent", len(cfg.Rules.Permanent), "dynamic", len(restored))
		}
	}
	if err := fw.Apply(cfg.Rules); err != nil {
		if !stored {
			return err // the configuration's own ruleset is refused
		}
		log.Error("the state file's lists are refused: the configuration's alone are in force", "err", err)
		hw.kernelFault(err)
		if err := fw.Apply(base.Rules); err != nil {
			return err
		}
		cfg.Rules, restored = base.Rules, nil
	}
	if len(restored) > 0 {
		if err := fw.Ban(restored); err != nil {
			log.Error("dynamic bans of the state file not restored", "err", err)
			hw.kernelFault(err)
		}
	}
	if err := netfilter.SetupBridge(cfg.Bridge); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	log.Info("bridge up", "bridge", cfg.Bridge.Name, "wan", cfg.Bridge.WAN, "lan", cfg.Bridge.LAN)
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	g, gctx := errgroup.WithContext(runCtx)
	dash := newDashboard(log, st, state.status, cfg.Rules.Admin)
	reset := resetter{log: log, defaults: cfg.FactoryDefaults, done: stop, forget: dash.forget}
	if st != nil {
		reset.wipe = st.Wipe
	}
	hw.start(gctx, g, log, cfg.Bridge, reset)
	rl := &remoteLog{log: log, g: g, ctx: gctx}
	if err := rl.start(cfg.Syslog); err != nil {
		log.Error("remote syslog is off", "err", err)
	}
	if st != nil {
		st.Watch(rl.events)
	}
	fwWatch := newFirmwareWatch(cfg.Firmware, log, tamperFault(hw, rl))
	g.Go(func() error { return fwWatch.run(gctx) })
	mgmt := startManagement(gctx, g, log, cfg, hw)
	clock := mgmt.Clock()
	lists, err := newBlocklists(cfg.Feeds, fw, log)
	if err != nil {
		return err
	}
	g.Go(func() error { return afterClock(gctx, clock, lists.run) })
	countries := newGeo(cfg.GeoIP, cfg.Rules.Countries, fw, log)
	g.Go(func() error {
		return countries.run(gctx, cfg.GeoIP.Every, clock.Wait)
	})
	be := &backend{fw: fw, state: st, stateFile: state.status, settings: make(chan settingsReq), configFile: cfg.ConfigFile, version: cfg.Version, reread: cfg.Reload, hw: hw, halt: cfg.Halt,
		firmware: fwWatch, geo: countries, lists: lists, mgmt: mgmt}
	nt := &notifier{log: log, g: g, ctx: gctx}
	nt.summary = summaryAfterClock(clock, summaryOf(st, be))
	be.notify = nt
	be.web = dash
	dash.start(gctx, g, cfg, be, nt, clock)
	if err := nt.start(cfg.Notify); err != nil {
		log.Error("notifications are off", "err", err)
	}
	be.firstPacket = fp
	be.fleet = &fleet{log: log, fw: fw, version: cfg.Version, g: g, ctx: gctx}
	be.fleet.start(cfg.CrowdSec)
	if be.obs, err = newObserver(be, cfg.Version); err != nil {
		log.Error("metrics are off", "err", err)
		be.obs = &observer{}
	}
	be.obs.syslog = rl
	apply, err := startInspection(gctx, g, log, cfg, fw, st, be, hw, countries, fp)
	if err != nil {
		// The ruleset protects on its own; live detection is what is lost.
		log.Error("SIP inspection is off", "err", err)
		apply = func(c Config) error { return fw.Apply(c.Rules) }
	}
	// Settings change in one place, one at a time: a new configuration
	// (SIGHUP or the API's reload), or lists changed through the API. The
	// ruleset is always the configuration's plus the state file's lists.
	g.Go(func() error {
		withLists := func(c Config) (Config, error) {
			if st == nil {
				return c, nil
			}
			c.Rules.Allow, c.Rules.Deny, c.Rules.Permanent = slices.Clone(c.Rules.Allow), slices.Clone(c.Rules.Deny), slices.Clone(c.Rules.Permanent)
			return c, addStoredLists(st, &c.Rules)
		}
		// change puts next (or, if nil, the configuration in force with the
		// state file's lists as they are now) in force.
		change := func(next *Config) error {
			c := base
			if next != nil {
				// Ports left to the board are the ones found at start.
				if next.Bridge.WAN == "" {
					next.Bridge.WAN = cfg.Bridge.WAN
				}
				if next.Bridge.LAN == "" {
					next.Bridge.LAN = cfg.Bridge.LAN
				}
				next.Rules.WAN, next.Rules.LAN = next.Bridge.WAN, next.Bridge.LAN
				if err := reloadable(cfg, *next); err != nil {
					return err
				}
				c = *next
				c.Rules.FirstPacket = fp.on() // changes only with a restart
			}
			full, err := withLists(c)
			if err == nil {
				err = apply(full)
			}
			if err == nil {
				err = countries.configure(c.GeoIP.Countries, c.Rules.Countries)
			}
			if err == nil && next != nil {
				err = lists.configure(c.Feeds)
			}
			if err == nil && next != nil {
				err = nt.start(c.Notify)
			}
			if err == nil && next != nil {
				err = rl.start(c.Syslog)
			}
			if err == nil && next != nil {
				configureManagement(mgmt, c)
			}
			if err == nil && next != nil {
				be.fleet.start(c.CrowdSec)
			}
			if err == nil {
				base = c
				dash.setAdmin(c.Rules.Admin)
			}
			return err
		}
		configured := func(err error) {
			if err != nil {
				log.Error("configuration not applied; the last one stays in force", "err", err)
				return
			}
			log.Info("configuration applied")
		}
		for {
			select {
			case <-gctx.Done():
				return nil
			case next := <-reloads:
				configured(change(&next))
			case req := <-be.settings:
				err := change(req.next)
				if req.next != nil {
					configured(err)
				}
				req.done <- err
			}
		}
	})
	if cfg.API != "" {
		g.Go(func() error {
			if err := api.Serve(gctx, cfg.API, be, log); err != nil {
				log.Error("local API is off", "err", err) // the box protects all the same
			}
			return nil
		})
	}
	log.Info("protecting", "table", "bridge "+netfilter.TableName)
	hw.ready(true)
	if ready != nil {
		ready()
	}
	g.Go(func() error {
		<-gctx.Done()
		return nil
	})
	runErr := g.Wait()
	if errors.Is(context.Cause(runCtx), ErrFactoryReset) {
		fp.close(true)
		if err := fw.Remove(); err != nil {
			return errors.Join(ErrFactoryReset, fmt.Errorf("remove ruleset: %w", err))
		}
		log.Warn("factory reset done: starting again on the defaults")
		return ErrFactoryReset
	}
	if cfg.OnStop == config.RemoveRules {
		fp.close(true)
		if err := fw.Remove(); err != nil {
			return errors.Join(runErr, fmt.Errorf("remove ruleset: %w", err))
		}
		log.Info("stopped; ruleset removed, bridge left up")
		return runErr
	}
	log.Info("stopped; ruleset and bans left in force")
	return runErr
}
