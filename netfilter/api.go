package netfilter

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// TableName is the one nftables table sipguard owns (family bridge).
const TableName = "sipguard"

// ErrUnsupported is returned on systems without Linux's bridge and
// nftables.
var ErrUnsupported = errors.New("netfilter: needs Linux (bridge and nftables)")

// ErrNoRuleset is returned when sipguard's table is not in the kernel: the
// daemon is not running in this network namespace, or stopped and removed it.
var ErrNoRuleset = errors.New("no sipguard ruleset in this network namespace (is the daemon running?)")

// Option configures Open.
type Option func(*options)

type options struct{ netns int }

// WithNetNS aims the Firewall at the network namespace behind fd instead of
// the caller's.
func WithNetNS(fd int) Option { return func(o *options) { o.netns = fd } }

// Size reports how many entries (ranges) each public list holds.
type Size struct{ V4, V6 int }

// Total is V4 + V6.
func (s Size) Total() int { return s.V4 + s.V6 }

// Counter is one named counter's value.
type Counter struct{ Packets, Bytes uint64 }

// Stats is a snapshot of the table: list sizes and counters.
type Stats struct {
	Sizes    map[string]Size    // "allow", "deny", "permanent", "dynamic", "admin", "crowdsec", "countries", "feeds"
	Counters map[string]Counter // by the Counter* names
}

// BridgeConfig describes the bridge that joins the two ports.
type BridgeConfig struct {
	Name     string // the bridge, "br0" on the box
	WAN, LAN string // the ports
	Mgmt     *Mgmt  // optional management address; nil keeps the box invisible
}

// Mgmt is the box's own address on the bridge, for its dashboard and API on
// the LAN and for its own traffic (feeds, mail, time).
type Mgmt struct {
	Addrs    []netip.Prefix // e.g. 192.0.2.2/24, 2001:db8:1::2/64
	DHCP     bool           // also take an IPv4 address by DHCP (see RunDHCP)
	SLAAC    bool           // also take IPv6 addresses from the routers' advertisements
	Gateway4 netip.Addr     // optional default routes
	Gateway6 netip.Addr
}

// Lease is what a DHCP server gave the box (see RunDHCP).
type Lease struct {
	Addr    netip.Prefix // the leased address and its network
	Router  netip.Addr   // the default gateway; invalid when none was given
	DNS     []netip.Addr // name servers (option 6)
	NTP     []netip.Addr // time servers (option 42)
	Server  netip.Addr   // the DHCP server
	Expires time.Time
}

// Ban is a dynamic ban to apply: traffic from Addr's ban prefix (the
// Ruleset's BanPrefix4 or BanPrefix6: one source as the detection counts
// it) is dropped for Timeout. With Bits shorter than the ban prefix, the
// ban covers the whole network Addr/Bits instead (a network ban).
type Ban struct {
	Addr    netip.Addr
	Timeout time.Duration
	// Bits is the length of the banned network; 0, or any length from the
	// ban prefix's up, bans Addr's ban prefix.
	Bits int
}

// BanOf returns the ban of a source or network p for timeout.
func BanOf(p netip.Prefix, timeout time.Duration) Ban {
	return Ban{Addr: p.Addr(), Timeout: timeout, Bits: p.Bits()}
}

// BanEntry is a dynamic ban in force.
type BanEntry struct {
	// Prefix is what the ban covers: a source's ban prefix (an IPv4
	// address, an IPv6 /64 by default), or a banned network.
	Prefix  netip.Prefix
	Expires time.Duration // time left
}

// MaxBanTimeout bounds one ban's lifetime; permanent bans go to the
// permanent list instead.
const MaxBanTimeout = 365 * 24 * time.Hour

// Counters, one per reason a packet is accepted early or dropped. The names
// are part of the API: [Firewall.Stats] reports them.
const (
	CounterAllow        = "allow"
	CounterDeny         = "deny"
	CounterPermanent    = "permanent"
	CounterDynamic      = "dynamic"
	CounterHeld         = "held"
	CounterCountry      = "country"
	CounterFeed         = "feed"
	CounterCrowdSec     = "crowdsec"
	CounterTFTP         = "tftp"
	CounterDNS          = "dns"
	CounterPort         = "port"
	CounterSIPUntrusted = "sip_untrusted"
	CounterMgmt         = "mgmt"
	CounterVLAN         = "vlan"
	CounterTollBlocked  = "toll_blocked" // the office's calls to a blocked number
)

// Counters lists every counter name, in the order the rules use them.
var Counters = []string{
	CounterVLAN, CounterAllow, CounterDeny, CounterPermanent, CounterDynamic,
	CounterHeld, CounterCountry, CounterFeed, CounterCrowdSec, CounterTFTP, CounterDNS, CounterPort,
	CounterSIPUntrusted, CounterMgmt, CounterTollBlocked,
}

// Source names a large set that is replaced as a whole: the networks of the
// blocked (or allowed) countries, or the entries of the blocklist feeds.
type Source int

const (
	Countries Source = iota
	Feeds
)

var sources = []Source{Countries, Feeds}

func (s Source) String() string {
	switch s {
	case Countries:
		return "countries"
	case Feeds:
		return "feeds"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}
