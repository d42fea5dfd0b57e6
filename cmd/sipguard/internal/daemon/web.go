package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/dashboard"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/netmgmt"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/web"
)

// CertFile is the dashboard's certificate and key, in the state file's
// folder.
const CertFile = "dashboard.pem"

// site is the HTTPS dashboard and API on the management address, and
// the API tokens (served on the unix socket too).
type site struct {
	log    *slog.Logger
	store  web.Store
	kept   bool // store outlives a restart
	tokens *web.Tokens
	admin  atomic.Pointer[[]netip.Prefix]
	cert   string                     // the certificate's file; "" keeps it in memory
	srv    atomic.Pointer[web.Server] // nil when off
	// now is the clock the certificate is made with.
	now func() time.Time
}

// newDashboard prepares the dashboard over the state file st (nil: none,
// and the password lives in memory).
func newDashboard(log *slog.Logger, st *store.Store, sf api.StateFile, admin []netip.Prefix) *site {
	d := &site{log: log, now: time.Now}
	if st != nil {
		d.store, d.kept = st, sf.Kept
	} else {
		d.store = &web.MemoryStore{}
	}
	if d.kept && sf.Path != "" {
		d.cert = filepath.Join(filepath.Dir(sf.Path), CertFile)
	}
	d.tokens = web.NewTokens(d.store, nil)
	d.setAdmin(admin)
	return d
}

// setAdmin puts a new admin allowlist in force.
func (d *site) setAdmin(p []netip.Prefix) {
	p = append([]netip.Prefix(nil), p...)
	d.admin.Store(&p)
}

// forget removes the certificate and its key: the factory reset.
func (d *site) forget() error {
	if d.cert == "" {
		return nil
	}
	if err := os.Remove(d.cert); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the dashboard's certificate: %w", err)
	}
	return nil
}

// start serves the dashboard, when the box has a management address. A
// certificate that cannot be had leaves it off; the box protects all the
// same.
//
// A certificate still to be made waits for a plausible clock: one made in
// 1970, before NTP set the time of a board without a real-time clock,
// would be out of date for every browser.
func (d *site) start(ctx context.Context, g *errgroup.Group, cfg Config, be *backend, nt *notifier, clock *netmgmt.Clock) {
	if cfg.Bridge.Mgmt == nil {
		d.log.Info("dashboard off: the box has no management address")
		return
	}
	if _, err := os.Stat(d.cert); (d.cert == "" || errors.Is(err, fs.ErrNotExist)) && !clock.Plausible() {
		d.log.Info("dashboard: waiting for the clock (NTP) to make its certificate")
		g.Go(func() error {
			if clock.Wait(ctx) == nil {
				d.serve(ctx, g, cfg, be, nt)
			}
			return nil
		})
		return
	}
	d.serve(ctx, g, cfg, be, nt)
}

// serve makes or loads the certificate and serves the dashboard.
func (d *site) serve(ctx context.Context, g *errgroup.Group, cfg Config, be *backend, nt *notifier) {
	cert, made, err := web.LoadOrCreateCert(d.cert, web.CertOptions{Hostname: cfg.Management.Hostname, Addrs: mgmtAddrs(cfg, be.mgmt), Now: d.now()})
	if err != nil {
		d.log.Error("dashboard off", "err", err)
		return
	}
	fp := web.Fingerprint(cert.Certificate[0])
	if made {
		d.log.Info("dashboard certificate made", "file", d.cert)
	}
	d.log.Info("dashboard certificate fingerprint SHA-256 " + fp)
	if !d.kept {
		d.log.Warn("dashboard: no state file: its password and tokens are lost when the daemon stops")
	}
	audit := func(e store.Event) {
		if be.state == nil {
			return
		}
		if err := be.state.AppendEvents(e); err != nil {
			d.log.Error("attack log: dashboard event not recorded", "err", err)
		}
	}
	srv := web.New(web.Options{
		Log: d.log, Backend: be, Store: d.store, Tokens: d.tokens, Kept: d.kept,
		Admin: func() []netip.Prefix { return *d.admin.Load() },
		Sides: web.BridgeSides{Bridge: cfg.Bridge.Name, LAN: cfg.Bridge.LAN},
		Cert:  cert, Audit: audit, Alert: nt.alert, Now: d.now,
		Pages: func(po web.PageOptions) http.Handler {
			return dashboard.New(be, dashboard.Options{
				CSRFToken: po.CSRFToken, Fingerprint: po.Fingerprint, Tokens: pageTokens{po.Tokens},
				Version: cfg.Version, Log: d.log,
			})
		},
	})
	d.srv.Store(srv)
	g.Go(func() error { return srv.Run(ctx, web.Ports{HTTPS: cfg.Web.HTTPSPort, HTTP: cfg.Web.HTTPPort}) })
}

// mgmtAddrs are the management addresses the certificate names: the
// configured ones, and those the box has taken (DHCP, SLAAC) by now.
func mgmtAddrs(cfg Config, mg *netmgmt.Manager) []netip.Addr {
	var out []netip.Addr
	for _, p := range cfg.Bridge.Mgmt.Addrs {
		out = append(out, p.Addr())
	}
	if mg != nil {
		for _, a := range mg.Status().Addresses {
			if !slices.Contains(out, a.Prefix.Addr()) {
				out = append(out, a.Prefix.Addr())
			}
		}
	}
	return out
}

// Tokens implements api.TokenBackend.
func (b *backend) Tokens(ctx context.Context) ([]api.Token, error) { return b.web.tokens.List(ctx) }

// CreateToken implements api.TokenBackend.
func (b *backend) CreateToken(ctx context.Context, name string) (api.NewToken, error) {
	t, err := b.web.tokens.Create(ctx, name)
	if err == nil {
		b.web.log.Info("API token made", "id", t.ID, "name", t.Name)
	}
	return t, err
}

// RevokeToken implements api.TokenBackend.
func (b *backend) RevokeToken(ctx context.Context, id string) error {
	err := b.web.tokens.Revoke(ctx, id)
	if err == nil {
		b.web.log.Info("API token revoked", "id", id)
	}
	return err
}

// pageTokens shows the web server's API tokens on the dashboard's pages.
type pageTokens struct{ t *web.Tokens }

func (p pageTokens) List(ctx context.Context) ([]dashboard.Token, error) {
	toks, err := p.t.List(ctx)
	out := make([]dashboard.Token, len(toks))
	for i, t := range toks {
		out[i] = dashboard.Token{ID: t.ID, Name: t.Name, Created: t.Created, LastUsed: t.LastUsed}
	}
	return out, err
}

func (p pageTokens) Create(ctx context.Context, name string) (string, dashboard.Token, error) {
	t, err := p.t.Create(ctx, name)
	return t.Secret, dashboard.Token{ID: t.ID, Name: t.Name, Created: t.Created}, err
}

func (p pageTokens) Revoke(ctx context.Context, id string) error { return p.t.Revoke(ctx, id) }

// webServer is the dashboard's server; nil while it is off or waits for
// the clock.
func (b *backend) webServer() *web.Server {
	if b.web == nil {
		return nil
	}
	return b.web.srv.Load()
}
