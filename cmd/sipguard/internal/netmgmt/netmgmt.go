package netmgmt

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/sipguard/sipguard/netfilter"
)

// Where a management address came from.
const (
	SourceFixed = "fixed" // the configuration's management.addresses
	SourceDHCP  = "dhcp"  // a DHCP lease
	SourceSLAAC = "slaac" // a router's advertisement
)

// The management states.
const (
	StateOK        = "ok"         // the box has an address to be reached at
	StateNoAddress = "no address" // it should have one, and has none yet
	StateOff       = "off"        // management is off: the box is invisible
)

// Timings of the address watch.
const (
	// addrCheck is how often the bridge's addresses are read: one netlink
	// dump of one interface.
	addrCheck = 2 * time.Second
	// NoAddressGrace is how long the box may be without an address before
	// the no-address state shows on the LEDs: a DHCP server takes a
	// moment at boot.
	NoAddressGrace = 30 * time.Second
)

// Address is one management address of the box.
type Address struct {
	Prefix netip.Prefix
	Source string // SourceFixed, SourceDHCP or SourceSLAAC
}

// Status is the box's place on the network, for the API and the
// dashboard.
type Status struct {
	// State is StateOK, StateNoAddress or StateOff.
	State string
	// Addresses are the management addresses in force (link-local ones
	// left out); Gateways the default routes of the box's own traffic.
	Addresses []Address
	Gateways  []netip.Addr
	// Lease is the DHCP lease in force; nil without one.
	Lease *netfilter.Lease
	// NTP is the clock's synchronization; Plausible whether the time can
	// be trusted (NTP synced, or the clock later than the build).
	NTP       NTPStatus
	Plausible bool
	// MDNS is the name the box answers mDNS for ("sipguard.local"), empty
	// while it answers for none (no address).
	MDNS string
}

// Options configure a Manager.
type Options struct {
	// Bridge is the interface of the management addresses.
	Bridge string
	// Hostname is the mDNS name without ".local"; HTTPSPort the port the
	// _https._tcp service announces.
	Hostname  string
	HTTPSPort int
	// Fixed are the configured addresses; DHCP and SLAAC whether the box
	// takes addresses from a DHCP server and routers' advertisements.
	Fixed       []netip.Prefix
	DHCP, SLAAC bool
	// NTP are the configured time servers, asked after those a DHCP lease
	// names.
	NTP []string
	// Clock is the clock NTP marks synced (nil: one of a build at Floor).
	Clock *Clock
	// Step sets the system clock; nil only compares it.
	Step Stepper
	// Query asks a time server (nil: QueryNTP).
	Query Querier
	// NoAddress is told when the no-address state starts showing (after
	// NoAddressGrace) and when it ends.
	NoAddress func(bool)
	// Addrs reads the bridge's addresses and default gateways (nil: the
	// kernel's, on Linux).
	Addrs func(iface string, fixed []netip.Prefix) ([]Address, []netip.Addr, error)
	Log   *slog.Logger
}

// Manager watches the management addresses, keeps the clock set and
// answers mDNS.
type Manager struct {
	o     Options
	ntp   *syncer
	mdns  *responder
	clock *Clock
	// mdnsErr is the mDNS responder's last error, as logged; only Run's
	// goroutine uses it.
	mdnsErr string

	mu       sync.Mutex
	dnsPort  int // the name servers' port: 53
	lease    *netfilter.Lease
	addrs    []Address
	gateways []netip.Addr
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// New returns a Manager; Run starts it.
func New(o Options) *Manager {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = NewClock(Floor, nil, o.Log)
	}
	if o.Query == nil {
		o.Query = QueryNTP
	}
	if o.Addrs == nil {
		o.Addrs = bridgeAddrs
	}
	if o.Hostname == "" {
		o.Hostname = "sipguard"
	}
	if o.HTTPSPort == 0 {
		o.HTTPSPort = 443
	}
	if o.NoAddress == nil {
		o.NoAddress = func(bool) {}
	}
	m := &Manager{o: o, clock: o.Clock, dnsPort: 53}
	m.ntp = &syncer{clock: o.Clock, query: o.Query, step: o.Step, servers: m.servers, log: o.Log, kick: make(chan struct{}, 1)}
	m.mdns = &responder{iface: o.Bridge, name: o.Hostname, port: o.HTTPSPort, log: o.Log}
	return m
}

// Clock is the clock the manager keeps set.
func (m *Manager) Clock() *Clock { return m.clock }

// on reports whether the box is meant to have a management address.
func (m *Manager) on() bool { return m.o.DHCP || m.o.SLAAC || len(m.o.Fixed) > 0 }

// Configure puts new settings in force: the mDNS name (answered under it
// within a few seconds), the configured time servers and how the clock is
// set (from the next sync on).
func (m *Manager) Configure(hostname string, ntp []string, step Stepper) {
	if hostname == "" {
		hostname = "sipguard"
	}
	m.mu.Lock()
	m.o.NTP = slices.Clone(ntp)
	m.mu.Unlock()
	m.ntp.setStep(step)
	m.mdns.rename(hostname)
}

// SetLease records the DHCP lease in force (nil: none); its time servers
// are asked first, at once when they are new.
func (m *Manager) SetLease(l *netfilter.Lease) {
	m.mu.Lock()
	var before []netip.Addr
	if m.lease != nil {
		before = m.lease.NTP
	}
	m.lease = l
	m.mu.Unlock()
	if l != nil && len(l.NTP) > 0 && !slices.Equal(before, l.NTP) {
		m.ntp.newServers()
	}
}

// servers are the time servers to ask, the lease's first.
func (m *Manager) servers() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	if m.lease != nil {
		for _, a := range m.lease.NTP {
			out = append(out, a.String())
		}
	}
	for _, s := range m.o.NTP {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Run watches the addresses, answers mDNS while there is one, and keeps
// the clock set, until ctx ends. With management off it only waits.
func (m *Manager) Run(ctx context.Context) error {
	if !m.on() {
		<-ctx.Done()
		return nil
	}
	defer m.mdns.close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { m.ntp.run(ctx) })
	t := time.NewTicker(addrCheck)
	defer t.Stop()
	var (
		since   = time.Now() // without an address since
		showing bool
	)
	for {
		has := m.check()
		switch {
		case has && showing:
			showing = false
			m.o.NoAddress(false)
			m.o.Log.Info("management address: the box has one again")
		case has:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case !showing && time.Since(since) >= NoAddressGrace:
			showing = true
			m.o.NoAddress(true)
			m.o.Log.Warn("management address: none", "for", time.Since(since).Round(time.Second), "dhcp", m.o.DHCP, "slaac", m.o.SLAAC)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// check reads the addresses, answers mDNS for them, and reports whether
// there is one.
func (m *Manager) check() bool {
	addrs, gws, err := m.o.Addrs(m.o.Bridge, m.o.Fixed)
	m.mu.Lock()
	if err == nil {
		m.addrs, m.gateways = addrs, gws
	}
	addrs = m.addrs
	m.mu.Unlock()
	if err != nil {
		m.o.Log.Debug("management addresses not read", "err", err)
	}
	ips := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		ips[i] = a.Prefix.Addr()
	}
	err = m.mdns.update(ips)
	if msg := errText(err); msg != m.mdnsErr { // said once, not every check
		m.mdnsErr = msg
		if err != nil {
			m.o.Log.Warn("mDNS is off", "err", err)
		}
	}
	return len(addrs) > 0
}

// Status is the management state now.
func (m *Manager) Status() Status {
	m.mu.Lock()
	st := Status{State: StateOff, Addresses: slices.Clone(m.addrs), Gateways: slices.Clone(m.gateways), Lease: m.lease}
	m.mu.Unlock()
	if m.on() {
		st.State = StateOK
		if len(st.Addresses) == 0 {
			st.State = StateNoAddress
		}
	}
	st.NTP, st.Plausible, st.MDNS = m.ntp.status(), m.clock.Plausible(), m.mdns.answering()
	return st
}
