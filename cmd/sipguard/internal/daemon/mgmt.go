package daemon

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/netmgmt"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/notify"
	"github.com/sipguard/sipguard/leds"
	"github.com/sipguard/sipguard/netfilter"
)

// startManagement puts the box on the office network: the DHCP lease
// (IPv4), DHCPv6 where offered (SLAAC is the kernel's, once SetupBridge
// allowed it), the clock by
// NTP, mDNS for the box's name, and the no-address state on the LEDs.
// Protection never waits on any of it.
func startManagement(ctx context.Context, g *errgroup.Group, log *slog.Logger, cfg Config, hw *hardware) *netmgmt.Manager {
	log = log.With("part", "management")
	o := netmgmt.Options{Bridge: cfg.Bridge.Name, Hostname: cfg.Management.Hostname, HTTPSPort: cfg.Web.HTTPSPort, NTP: cfg.Management.NTP,
		Clock: netmgmt.NewClock(netmgmt.BuildTime(), nil, log), Log: log,
		NoAddress: func(on bool) {
			if hw.leds != nil {
				hw.leds.SetFault(leds.FaultNoAddress, on)
			}
		}}
	if m := cfg.Bridge.Mgmt; m != nil {
		o.Fixed, o.DHCP, o.SLAAC = m.Addrs, m.DHCP, m.SLAAC
	}
	mg := netmgmt.New(o)
	configureManagement(mg, cfg)
	// The box's root file system has no resolv.conf: its names (the NTP
	// pool, the feeds) resolve through the DHCP lease's name servers. A
	// system that has one keeps it.
	if _, err := os.Stat("/etc/resolv.conf"); errors.Is(err, fs.ErrNotExist) && o.DHCP {
		net.DefaultResolver = &net.Resolver{PreferGo: true, Dial: mg.DialDNS}
		log.Info("names resolve through the DHCP lease's name servers (no /etc/resolv.conf)")
	}
	if o.DHCP {
		g.Go(func() error { return netfilter.RunDHCP(ctx, cfg.Bridge.Name, log, mg.SetLease) })
	}
	if o.SLAAC {
		g.Go(func() error { return netfilter.RunDHCPv6(ctx, cfg.Bridge.Name, log) })
	}
	g.Go(func() error { return mg.Run(ctx) })
	return mg
}

// configureManagement puts a new configuration's mDNS name, time servers
// and clock setting in force; the addresses change only with a restart.
func configureManagement(mg *netmgmt.Manager, cfg Config) {
	var step netmgmt.Stepper
	if cfg.Management.SetClock {
		step = netmgmt.SystemClock{}
	}
	mg.Configure(cfg.Management.Hostname, cfg.Management.NTP, step)
}

// afterClock runs fn once the clock is plausible (downloads check
// certificates, schedules read the time); nothing when ctx ends first.
func afterClock(ctx context.Context, clock *netmgmt.Clock, fn func(context.Context) error) error {
	if clock.Wait(ctx) != nil {
		return nil
	}
	return fn(ctx)
}

// errClockNotSet skips a daily summary due while the clock is not yet
// plausible: its day and hour would be wrong.
var errClockNotSet = errors.New("the clock is not set yet (NTP)")

// summaryAfterClock is sum, refused while the clock is not plausible.
func summaryAfterClock(clock *netmgmt.Clock, sum notify.SummaryFunc) notify.SummaryFunc {
	if sum == nil {
		return nil
	}
	return func(ctx context.Context, from, to time.Time) (notify.Summary, error) {
		if !clock.Plausible() {
			return notify.Summary{}, errClockNotSet
		}
		return sum(ctx, from, to)
	}
}

// managementStatus is the API's view of the management state.
func managementStatus(st netmgmt.Status) *api.Management {
	out := &api.Management{State: st.State, MDNS: st.MDNS, Plausible: st.Plausible,
		NTP: api.NTP{Synced: st.NTP.Synced, Server: st.NTP.Server, Offset: st.NTP.Offset.String(), Stepped: st.NTP.Stepped,
			LastSync: st.NTP.LastSync, LastError: st.NTP.LastError}}
	if !st.NTP.Synced {
		out.NTP.Offset = ""
	}
	for _, a := range st.Addresses {
		out.Addresses = append(out.Addresses, api.MgmtAddress{Address: a.Prefix.String(), Source: a.Source})
	}
	for _, gw := range st.Gateways {
		out.Gateways = append(out.Gateways, gw.String())
	}
	if l := st.Lease; l != nil {
		out.Lease = &api.Lease{Address: l.Addr.String(), Expires: l.Expires}
		if l.Router.IsValid() {
			out.Lease.Router = l.Router.String()
		}
		if l.Server.IsValid() {
			out.Lease.Server = l.Server.String()
		}
		for _, a := range l.NTP {
			out.Lease.NTP = append(out.Lease.NTP, a.String())
		}
		for _, a := range l.DNS {
			out.Lease.DNS = append(out.Lease.DNS, a.String())
		}
	}
	return out
}
