package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/geoip"
	"github.com/sipguard/sipguard/netfilter"
)

// geo keeps the country database in use: lookups for events, and the
// kernel's country set compiled from it.
type geo struct {
	log *slog.Logger
	fw  *netfilter.Firewall
	upd *geoip.Updater // nil without an update source
	db  atomic.Pointer[geoip.DB]

	mu        sync.Mutex // one compile at a time; guards what follows
	countries []string
	mode      netfilter.CountryMode
	compiled  int // prefixes in the kernel set
}

func newGeo(cfg config.GeoIPSettings, mode netfilter.CountryMode, fw *netfilter.Firewall, log *slog.Logger) *geo {
	g := &geo{log: log, fw: fw, countries: slices.Clone(cfg.Countries), mode: mode}
	if cfg.Database == "" {
		if mode != netfilter.CountriesOff {
			log.Warn("the country filter is on but there is no country database (geoip.database): it lets everything through")
		}
		return g
	}
	if cfg.Update.URL != "" || cfg.Update.AccountID != "" {
		u := cfg.Update
		u.Path = cfg.Database
		upd, err := geoip.NewUpdater(u)
		if err != nil {
			log.Error("country database updates are off", "err", err)
		} else {
			g.upd = upd
		}
	}
	db, err := geoip.Open(cfg.Database)
	switch {
	case err == nil:
		g.use(db)
	case errors.Is(err, fs.ErrNotExist) && g.upd != nil:
		// Protection comes first: the first download runs in the background
		// (run checks at once when there is no file).
		log.Info("no country database yet: it is downloaded in the background", "file", cfg.Database)
	default:
		log.Error("country database unusable", "err", err)
	}
	return g
}

// run looks for new databases on the schedule until ctx ends, once
// waitClock says the time can be trusted.
func (g *geo) run(ctx context.Context, every time.Duration, waitClock func(context.Context) error) error {
	if g.upd == nil || every <= 0 {
		return nil
	}
	if waitClock(ctx) != nil {
		return nil
	}
	if err := g.upd.Run(ctx, every, g.use); err != nil && ctx.Err() == nil {
		g.log.Error("country database updates stopped", "err", err)
	}
	return nil
}

// use puts db in use: it compiles the country set from it, then serves
// lookups from it.
func (g *geo) use(db *geoip.DB) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.compile(db); err != nil {
		g.log.Error("country set not loaded; the previous one stays", "err", err)
		return
	}
	g.db.Store(db)
	info := db.Info()
	g.log.Info("country database in use", "type", info.Type, "built", info.Built.Format(time.DateOnly), "country_prefixes", g.compiled)
}

// compile loads the kernel's country set from db; g.mu is held.
func (g *geo) compile(db *geoip.DB) error {
	if g.mode == netfilter.CountriesOff || db == nil {
		return nil
	}
	start := time.Now()
	v4, v6, err := g.fw.ReplaceSource(netfilter.Countries, db.Networks(g.countries))
	if err != nil {
		return err
	}
	g.compiled = v4 + v6
	g.log.Info("country set loaded", "countries", g.countries, "mode", g.mode, "ipv4", v4, "ipv6", v6, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// configure follows a new configuration's country list and mode.
func (g *geo) configure(countries []string, mode netfilter.CountryMode) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if slices.Equal(countries, g.countries) && mode == g.mode {
		return nil
	}
	g.countries, g.mode = slices.Clone(countries), mode
	return g.compile(g.db.Load())
}

// country is the ISO code of a, "" when unknown.
func (g *geo) country(a netip.Addr) string {
	if g == nil {
		return ""
	}
	if db := g.db.Load(); db != nil {
		return db.Lookup(a)
	}
	return ""
}

func (g *geo) status() api.GeoIP {
	g.mu.Lock()
	out := api.GeoIP{Countries: slices.Clone(g.countries), Mode: g.mode.String(), Prefixes: g.compiled}
	g.mu.Unlock()
	if db := g.db.Load(); db != nil {
		info := db.Info()
		out.Database = &info
	}
	if g.upd != nil {
		st := g.upd.Status()
		out.Update = &st
	}
	return out
}

// update looks for a new database now.
func (g *geo) update(ctx context.Context) (api.GeoIP, error) {
	if g.upd == nil {
		return api.GeoIP{}, fmt.Errorf("%w: no update source (geoip.update_url, or geoip.maxmind_account and geoip.maxmind_license)", api.ErrBadRequest)
	}
	db, err := g.upd.Update(ctx)
	if err != nil {
		return g.status(), err
	}
	if db != nil {
		g.use(db)
	}
	return g.status(), nil
}
