// Package config reads the box's configuration file: TOML, strict (an
// unknown key is an error), every value checked, with messages that name
// the key and what it accepts. The defaults live here, in one place;
// Default prints them as a commented file.
//
// What a file describes, checked, is a [Config]: the settings the box's
// service runs with. The service adds to it only what no file holds (its
// API socket, its hooks into the box's init); this package imports nothing
// of the service, the API or the command line.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sipguard/sipguard/board"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/geoip"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/notify/notifyconf"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/remotelog"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/tollfraud"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
	"github.com/sipguard/sipguard/sip/portrange"
)

// Config is the configuration a file describes, checked: what the box's
// service runs with.
type Config struct {
	Bridge netfilter.BridgeConfig
	Rules  netfilter.Ruleset
	SIP    sip.Rules
	OnStop StopMode
	// BanDecay forgives a source one of its dynamic bans, as the block
	// threshold counts them, for every full BanDecay since its last ban;
	// 0 never forgives.
	BanDecay time.Duration
	// State is the state file (lists, permanent and dynamic bans, ban
	// history, attack log); empty keeps nothing across restarts.
	State string
	// Board names the board's profile ("" detects it from the device
	// tree); LEDs the set of LEDs ("" for the board's). Ports the
	// configuration leaves empty are the ones the board's profile finds.
	Board, LEDs string
	// GeoIP is the country database: countries of events, and the country
	// filter's networks.
	GeoIP GeoIPSettings
	// Feeds are the global blocklists loaded into the kernel's feed set.
	Feeds []feeds.Feed
	// Notify says where alerts and the daily summary go.
	Notify notifyconf.Settings
	// TollFraud is the watch of the office's outbound calls.
	TollFraud tollfraud.Rules
	// Web is where the dashboard listens on the management address.
	Web WebSettings
	// Syslog is the remote syslog of bans, alerts, tamper warnings and
	// admin actions; an empty Address sends nothing.
	Syslog remotelog.Config
	// Management is how the box takes part in the office network beyond
	// its addresses (Bridge.Mgmt): its mDNS name and its clock.
	Management ManagementSettings
	// CrowdSec joins the box to a CrowdSec local API: its decisions
	// enforced, the box's bans pushed.
	CrowdSec crowdsec.Settings
}

// WebSettings are the dashboard's ports on the management address.
type WebSettings struct {
	HTTPSPort int // the dashboard and the HTTPS API
	HTTPPort  int // redirects to HTTPS; 0: off

}

// ManagementSettings are the box's name on the network and its time
// servers.
type ManagementSettings struct {
	// Hostname is the box's mDNS name, without ".local".
	Hostname string
	// NTP are the time servers asked after those of a DHCP lease.
	NTP []string
	// SetClock steps the clock when NTP finds it off by more than a
	// second; false only reports the offset.
	SetClock bool
}

// StopMode says what happens to the ruleset when the service stops.
type StopMode string

const (
	// KeepRules leaves the ruleset and every ban in the kernel, so the
	// office stays protected while the service restarts. The default.
	KeepRules StopMode = "keep"
	// RemoveRules deletes sipguard's table on stop, as sipPROT's stop does.
	// The bridge stays up either way: the phones keep working.
	RemoveRules StopMode = "remove"
)

// GeoIPSettings are the country database and what the box does with it.
type GeoIPSettings struct {
	// Database is the country database (.mmdb); empty: none, countries
	// are unknown and the country filter has nothing to filter with.
	Database string
	// Countries are the ISO codes the country filter lists (blocked, or
	// the only ones allowed, as Rules.Countries says).
	Countries []string
	// Update says where new databases come from; Every how often they are
	// looked for (0: never).
	Update geoip.UpdaterConfig
	Every  time.Duration
}

// validateRules checks a configuration's ruleset before the service starts,
// when its wan port may still be left to the board to find.
func validateRules(r netfilter.Ruleset) error {
	if r.WAN == "" {
		r.WAN = "wan" // a placeholder: the board's port, known at start
	}
	if r.LAN == "" {
		r.LAN = "lan"
	}
	return r.Validate()
}

// File is the configuration file's layout.
type File struct {
	Board      Board      `toml:"board"`
	Ports      Ports      `toml:"ports"`
	Management Management `toml:"management"`
	SIP        SIP        `toml:"sip"`
	Protection Protection `toml:"protection"`
	TollFraud  TollFraud  `toml:"tollfraud"`
	GeoIP      GeoIP      `toml:"geoip"`
	Feeds      Feeds      `toml:"feeds"`
	Notify     Notify     `toml:"notify"`
	Syslog     Syslog     `toml:"syslog"`
	CrowdSec   CrowdSec   `toml:"crowdsec"`
	State      State      `toml:"state"`
}

// CrowdSec is the CrowdSec local API the box pulls decisions from and
// pushes its bans to.
type CrowdSec struct {
	Mode            string   `toml:"mode"`
	URL             string   `toml:"url"`
	BouncerKey      string   `toml:"bouncer_key"`
	MachineID       string   `toml:"machine_id"`
	MachinePassword string   `toml:"machine_password"`
	Poll            Duration `toml:"poll"`
}

// Syslog is the remote syslog server of the box's events.
type Syslog struct {
	Address  string `toml:"address"`
	Facility string `toml:"facility"`
	Hostname string `toml:"hostname"`
	CA       string `toml:"ca"`
}

// Board chooses the board's profile and its LEDs.
type Board struct {
	Name string `toml:"name"`
	LEDs string `toml:"leds"`
}

type Ports struct {
	WAN    string `toml:"wan"`
	LAN    string `toml:"lan"`
	Bridge string `toml:"bridge"`
}

type Management struct {
	Addresses []string `toml:"addresses"`
	DHCP      bool     `toml:"dhcp"`
	Gateway4  string   `toml:"gateway4"`
	Gateway6  string   `toml:"gateway6"`
	Admin     []string `toml:"admin"`
	HTTPSPort int      `toml:"https_port"`
	HTTPPort  int      `toml:"http_port"`
	Hostname  string   `toml:"hostname"`
	NTP       []string `toml:"ntp"`
	SetClock  bool     `toml:"set_clock"`
}

type SIP struct {
	Ports           string   `toml:"ports"`
	Protocols       []string `toml:"protocols"`
	TrustedOnly     bool     `toml:"trusted_only"`
	FirstPacket     bool     `toml:"first_packet"`
	RegisterLimit   int      `toml:"register_limit"`
	InviteLimit     int      `toml:"invite_limit"`
	InviteBlockTime Duration `toml:"invite_block_time"`
	HourlyLimit     int      `toml:"hourly_limit"`
	FloodRate       int      `toml:"flood_rate"`
	BlockTime       Duration `toml:"block_time"`
	BlockThreshold  int      `toml:"block_threshold"`
	BanDecay        Duration `toml:"ban_decay"`
	ScannerAgents   []string `toml:"scanner_agents"`
	TrustWindow     Duration `toml:"trust_window"`
	TrustedFailures int      `toml:"trusted_failures"`
	Prefix4         int      `toml:"prefix4"`
	Prefix6         int      `toml:"prefix6"`

	GuessLimit             int      `toml:"guess_limit"`
	GuessPeriod            Duration `toml:"guess_period"`
	NetworkLimit           int      `toml:"network_limit"`
	Network4               int      `toml:"network4"`
	Network6               int      `toml:"network6"`
	TrustedOtherExtensions int      `toml:"trusted_other_extensions"`
	TrunkFailures          int      `toml:"trunk_failures"`
	HijackSources          int      `toml:"hijack_sources"`
	HijackWindow           Duration `toml:"hijack_window"`
	HijackNewCountry       bool     `toml:"hijack_new_country"`
	HijackAction           string   `toml:"hijack_action"`
}

type Protection struct {
	TFTPLimit     string `toml:"tftp_limit"`
	TFTPBurst     uint32 `toml:"tftp_burst"`
	DNSGuard      bool   `toml:"dns_guard"`
	RestrictedTCP string `toml:"restricted_tcp"`
	Countries     string `toml:"countries"`
}

// TollFraud is the watch of the office's outbound calls.
type TollFraud struct {
	Enabled             bool     `toml:"enabled"`
	InternationalPrefix string   `toml:"international_prefix"`
	HighRisk            []string `toml:"high_risk"`
	CallsPerHour        int      `toml:"calls_per_hour"`
	HighRiskPerHour     int      `toml:"high_risk_per_hour"`
	OfficeHours         string   `toml:"office_hours"`
	Timezone            string   `toml:"timezone"`
	Block               []string `toml:"block"`
}

// Notify is where alerts and the daily summary go.
type Notify struct {
	Daily         bool     `toml:"daily"`
	DailyHour     int      `toml:"daily_hour"`
	Alerts        bool     `toml:"alerts"`
	AlertInterval Duration `toml:"alert_interval"`
	SMTP          struct {
		Host     string   `toml:"host"`
		Port     int      `toml:"port"`
		Security string   `toml:"security"`
		User     string   `toml:"user"`
		Password string   `toml:"password"`
		From     string   `toml:"from"`
		To       []string `toml:"to"`
	} `toml:"smtp"`
	Webhook struct {
		URL    string `toml:"url"`
		Token  string `toml:"token"`
		Header string `toml:"header"`
	} `toml:"webhook"`
}

// Feeds are the global blocklists.
type Feeds struct {
	Defaults  bool         `toml:"defaults"`
	Disabled  []string     `toml:"disabled"`
	APIBANKey string       `toml:"apiban_key"`
	Custom    []CustomFeed `toml:"custom"`
}

// CustomFeed is a blocklist of the user's: a text list of addresses and
// networks.
type CustomFeed struct {
	Name     string   `toml:"name"`
	URL      string   `toml:"url"`
	Interval Duration `toml:"interval"`
}

// GeoIP is the country database and where new ones come from.
type GeoIP struct {
	Database       string   `toml:"database"`
	Countries      []string `toml:"countries"`
	UpdateURL      string   `toml:"update_url"`
	ChecksumURL    string   `toml:"checksum_url"`
	MaxMindAccount string   `toml:"maxmind_account"`
	MaxMindLicense string   `toml:"maxmind_license"`
	UpdateEvery    Duration `toml:"update_every"`
}

type State struct {
	File   string `toml:"file"`
	OnStop string `toml:"on_stop"`
}

// Duration is a time.Duration written as "10m", "1h30m".
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 90s, 10m or 1h", b)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

//go:embed default.toml
var defaultFile []byte

// Default returns the default configuration file, commented: every key,
// its default and what it accepts.
func Default() []byte { return bytes.Clone(defaultFile) }

// Parse reads a configuration on top of the defaults (a key left out keeps
// its default) and checks it. The error lists every problem.
func Parse(data []byte) (Config, error) {
	f, md, err := decode(data)
	if err != nil {
		return Config{}, err
	}
	var errs []error
	for _, k := range md.Undecoded() {
		errs = append(errs, fmt.Errorf("%s: unknown key", k))
	}
	cfg, err := f.config()
	return cfg, errors.Join(append(errs, err)...)
}

// decode reads data over the defaults, without checking the values.
func decode(data []byte) (File, toml.MetaData, error) {
	var f File
	if _, err := toml.Decode(string(defaultFile), &f); err != nil {
		return f, toml.MetaData{}, fmt.Errorf("built-in defaults: %w", err)
	}
	md, err := toml.Decode(string(data), &f)
	return f, md, err
}

// Load reads and checks the configuration file at path.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// config checks every value and builds what the daemon runs with.
func (f *File) config() (Config, error) {
	var errs []error
	bad := func(key string, err error) { errs = append(errs, fmt.Errorf("%s: %w", key, err)) }

	cfg := Config{
		Bridge: netfilter.BridgeConfig{Name: f.Ports.Bridge, WAN: f.Ports.WAN, LAN: f.Ports.LAN},
		// Every setting of the ruleset and the SIP rules comes from the
		// file, over default.toml; sip's own defaults are kept only for the
		// rules the file does not describe.
		Rules:  netfilter.Ruleset{},
		SIP:    sip.DefaultRules(),
		OnStop: StopMode(f.State.OnStop),
		State:  f.State.File,
		Board:  f.Board.Name,
		LEDs:   f.Board.LEDs,
	}
	if f.Board.Name != "" {
		if _, err := board.ByName(f.Board.Name); err != nil {
			bad("board.name", err)
		}
	}
	if l := f.Board.LEDs; l != "" && !slices.Contains(board.Wirings(), board.Wiring(l)) {
		bad("board.leds", fmt.Errorf("%q: want one of %v, or empty for the board's own", l, board.Wirings()))
	}
	for _, p := range []struct{ key, v string }{{"ports.wan", f.Ports.WAN}, {"ports.lan", f.Ports.LAN}, {"ports.bridge", f.Ports.Bridge}} {
		if p.v == "" && p.key != "ports.bridge" {
			continue // found by the board
		}
		if err := netfilter.ValidIfName(p.v); err != nil {
			bad(p.key, err)
		}
	}
	if f.Ports.WAN != "" && f.Ports.WAN == f.Ports.LAN {
		bad("ports.lan", fmt.Errorf("%q is also the wan port", f.Ports.LAN))
	}

	m := f.Management
	if len(m.Addresses) > 0 || m.DHCP {
		mg := &netfilter.Mgmt{DHCP: m.DHCP, SLAAC: m.DHCP}
		for i, a := range m.Addresses {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				bad(fmt.Sprintf("management.addresses[%d]", i), fmt.Errorf("%q is not an address with its prefix length, like 192.0.2.2/24", a))
				continue
			}
			mg.Addrs = append(mg.Addrs, p)
		}
		for _, g := range []struct {
			key, v string
			dst    *netip.Addr
			v6     bool
		}{{"management.gateway4", m.Gateway4, &mg.Gateway4, false}, {"management.gateway6", m.Gateway6, &mg.Gateway6, true}} {
			if g.v == "" {
				continue
			}
			a, err := netip.ParseAddr(g.v)
			if err != nil || a.Is6() != g.v6 {
				bad(g.key, fmt.Errorf("%q is not an IPv%s address", g.v, map[bool]string{false: "4", true: "6"}[g.v6]))
				continue
			}
			*g.dst = a
		}
		cfg.Bridge.Mgmt = mg
	}
	cfg.Management = parseManagement(m, bad)
	r := &cfg.Rules
	r.WAN = f.Ports.WAN
	for i, a := range m.Admin {
		p, err := netfilter.ParsePrefix(a)
		if err != nil {
			bad(fmt.Sprintf("management.admin[%d]", i), err)
			continue
		}
		r.Admin = append(r.Admin, p)
	}
	if m.HTTPSPort < 1 || m.HTTPSPort > 65535 {
		bad("management.https_port", fmt.Errorf("%d is not a port (1-65535)", m.HTTPSPort))
	}
	switch {
	case m.HTTPPort < 0 || m.HTTPPort > 65535:
		bad("management.http_port", fmt.Errorf("%d is not a port (1-65535, or 0 for none)", m.HTTPPort))
	case m.HTTPPort != 0 && m.HTTPPort == m.HTTPSPort:
		bad("management.http_port", fmt.Errorf("%d is also the https port", m.HTTPPort))
	}
	cfg.Web = WebSettings{HTTPSPort: m.HTTPSPort, HTTPPort: m.HTTPPort}

	s := f.SIP
	var err error
	if r.SIPPorts, err = portrange.Parse(s.Ports); err != nil {
		bad("sip.ports", fmt.Errorf("%w; want ports and ranges like \"5060\" or \"5060,5080:5082\"", err))
	} else if len(r.SIPPorts) == 0 {
		bad("sip.ports", fmt.Errorf("%q: want ports and ranges like \"5060\" or \"5060,5080:5082\"", s.Ports))
	}
	r.SIPUDP, r.SIPTCP = false, false
	for i, p := range s.Protocols {
		switch strings.ToLower(p) {
		case "udp":
			r.SIPUDP = true
		case "tcp":
			r.SIPTCP = true
		default:
			bad(fmt.Sprintf("sip.protocols[%d]", i), fmt.Errorf("%q is not udp or tcp", p))
		}
	}
	if !r.SIPUDP && !r.SIPTCP {
		bad("sip.protocols", errors.New("at least one of udp, tcp"))
	}
	r.TrustedSIP = s.TrustedOnly
	r.FirstPacket = s.FirstPacket
	sr := &cfg.SIP
	sr.RegisterLimit, sr.InviteLimit, sr.HourlyLimit, sr.FloodRate = s.RegisterLimit, s.InviteLimit, s.HourlyLimit, s.FloodRate
	sr.InviteBlockTime, sr.BlockTime, sr.TrustWindow = time.Duration(s.InviteBlockTime), time.Duration(s.BlockTime), time.Duration(s.TrustWindow)
	sr.BlockThreshold, sr.TrustedFailures = s.BlockThreshold, s.TrustedFailures
	sr.Prefix4, sr.Prefix6 = s.Prefix4, s.Prefix6
	sr.GuessLimit, sr.GuessPeriod = s.GuessLimit, time.Duration(s.GuessPeriod)
	sr.NetworkLimit, sr.Network4, sr.Network6 = s.NetworkLimit, s.Network4, s.Network6
	sr.TrustedOtherExtensions, sr.TrunkFailures = s.TrustedOtherExtensions, s.TrunkFailures
	sr.HijackSources, sr.HijackWindow = s.HijackSources, time.Duration(s.HijackWindow)
	sr.HijackNewCountry, sr.HijackAction = s.HijackNewCountry, sip.HijackAction(s.HijackAction)
	sr.ScannerAgents = slices.Clone(s.ScannerAgents)
	r.BanPrefix4, r.BanPrefix6 = s.Prefix4, s.Prefix6 // a ban covers what detection counts as one source
	if cfg.BanDecay = time.Duration(s.BanDecay); cfg.BanDecay < 0 {
		bad("sip.ban_decay", fmt.Errorf("%v: not negative (0: never)", cfg.BanDecay))
	}
	if err := sr.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			errs = append(errs, fmt.Errorf("sip.%w", e)) // each names its key
		}
	}

	p := f.Protection
	if strings.EqualFold(p.TFTPLimit, "off") {
		r.TFTP = nil
	} else if rate, per, err := netfilter.ParseRate(p.TFTPLimit); err != nil {
		bad("protection.tftp_limit", fmt.Errorf("%w, or off", err))
	} else {
		r.TFTP = &netfilter.RateLimit{Rate: rate, Per: per, Burst: p.TFTPBurst}
	}
	r.DNSGuard = p.DNSGuard
	if r.RestrictedTCP, err = portrange.Parse(p.RestrictedTCP); err != nil {
		bad("protection.restricted_tcp", err)
	}
	switch p.Countries {
	case "off":
		r.Countries = netfilter.CountriesOff
	case "block":
		r.Countries = netfilter.CountriesBlock
	case "allow-only":
		r.Countries = netfilter.CountriesAllowOnly
	default:
		bad("protection.countries", fmt.Errorf("%q is not off, block or allow-only", p.Countries))
	}
	if cfg.OnStop != KeepRules && cfg.OnStop != RemoveRules {
		bad("state.on_stop", fmt.Errorf("%q is not keep or remove", f.State.OnStop))
	}
	cfg.GeoIP = parseGeoIP(f.GeoIP, bad)
	cfg.Feeds = parseFeeds(f.Feeds, bad)
	cfg.Notify = parseNotify(f.Notify, bad)
	cfg.Syslog = parseSyslog(f.Syslog, bad)
	cfg.CrowdSec = parseCrowdSec(f.CrowdSec, bad)
	cfg.TollFraud = parseTollFraud(f.TollFraud, bad)
	r.LAN = f.Ports.LAN
	if len(cfg.TollFraud.Block) > 0 {
		r.BlockDialled = slices.Clone(cfg.TollFraud.Block)
	}
	if len(errs) == 0 {
		if err := validateRules(*r); err != nil {
			bad("protection", err)
		}
	}
	return cfg, errors.Join(errs...)
}

// parseManagement checks the box's name and time servers.
func parseManagement(m Management, bad func(string, error)) ManagementSettings {
	out := ManagementSettings{Hostname: m.Hostname, SetClock: m.SetClock}
	if !validLabel(m.Hostname) {
		bad("management.hostname", fmt.Errorf("%q is not a host name: 1 to 63 letters, digits and inner hyphens, like sipguard", m.Hostname))
	}
	for i, s := range m.NTP {
		if err := validServer(s); err != nil {
			bad(fmt.Sprintf("management.ntp[%d]", i), err)
			continue
		}
		out.NTP = append(out.NTP, s)
	}
	return out
}

// validLabel reports whether s is one DNS label of letters, digits and
// hyphens, not starting or ending with a hyphen.
func validLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validServer checks a time server: a host name or address, with an
// optional port ("ntp.example.net", "192.0.2.123", "[2001:db8::123]:123").
func validServer(s string) error {
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not 1-65535", s, port)
		}
		host = h
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	if !slices.ContainsFunc(labels, func(l string) bool { return !validLabel(l) }) && len(host) <= 253 {
		return nil
	}
	return fmt.Errorf("%q is not a host name or address, like pool.ntp.org or 192.0.2.123", s)
}

// parseGeoIP checks the [geoip] section.
func parseGeoIP(g GeoIP, bad func(string, error)) GeoIPSettings {
	out := GeoIPSettings{Database: g.Database, Every: time.Duration(g.UpdateEvery),
		Update: geoip.UpdaterConfig{URL: g.UpdateURL, ChecksumURL: g.ChecksumURL, AccountID: g.MaxMindAccount, LicenseKey: g.MaxMindLicense}}
	for i, c := range g.Countries {
		up := strings.ToUpper(c)
		if len(up) != 2 || up[0] < 'A' || up[0] > 'Z' || up[1] < 'A' || up[1] > 'Z' {
			bad(fmt.Sprintf("geoip.countries[%d]", i), fmt.Errorf("%q is not a two-letter ISO 3166 country code like CN", c))
			continue
		}
		if !slices.Contains(out.Countries, up) {
			out.Countries = append(out.Countries, up)
		}
	}
	if (g.MaxMindAccount == "") != (g.MaxMindLicense == "") {
		bad("geoip.maxmind_license", errors.New("a MaxMind download needs both maxmind_account and maxmind_license"))
	}
	if g.UpdateURL != "" && g.MaxMindAccount != "" {
		bad("geoip.update_url", errors.New("one source: update_url or the MaxMind account, not both"))
	}
	for _, u := range []struct{ key, v string }{{"geoip.update_url", g.UpdateURL}, {"geoip.checksum_url", g.ChecksumURL}} {
		if u.v != "" && !strings.HasPrefix(u.v, "https://") && !strings.HasPrefix(u.v, "http://") {
			bad(u.key, fmt.Errorf("%q is not an http(s) URL", u.v))
		}
	}
	if g.ChecksumURL != "" && g.UpdateURL == "" {
		bad("geoip.checksum_url", errors.New("needs update_url"))
	}
	if (g.UpdateURL != "" || g.MaxMindAccount != "") && g.Database == "" {
		bad("geoip.database", errors.New("an update source needs the file to keep the database in"))
	}
	if d := time.Duration(g.UpdateEvery); d != 0 && d < time.Hour {
		bad("geoip.update_every", fmt.Errorf("%v: at least 1h (the databases change weekly)", d))
	}
	return out
}

// parseFeeds turns the [feeds] section into the feed list; feeds.New
// checks each feed again when the daemon starts.
func parseFeeds(f Feeds, bad func(string, error)) []feeds.Feed {
	var out []feeds.Feed
	names := map[string]bool{}
	for _, d := range feeds.Defaults(f.APIBANKey) {
		names[d.Name] = true
		if !f.Defaults && d.Format != feeds.APIBAN {
			d.Enabled = false
		}
		if slices.Contains(f.Disabled, d.Name) {
			d.Enabled = false
		}
		out = append(out, d)
	}
	for i, n := range f.Disabled {
		if !names[n] {
			bad(fmt.Sprintf("feeds.disabled[%d]", i), fmt.Errorf("%q is not a default feed (%s)", n, strings.Join(slices.Sorted(maps.Keys(names)), ", ")))
		}
	}
	for i, c := range f.Custom {
		key := fmt.Sprintf("feeds.custom[%d]", i)
		switch {
		case c.Name == "" || names[c.Name]:
			bad(key+".name", fmt.Errorf("%q: want a name of its own", c.Name))
		case !strings.HasPrefix(c.URL, "https://") && !strings.HasPrefix(c.URL, "http://"):
			bad(key+".url", fmt.Errorf("%q is not an http(s) URL", c.URL))
		case c.Interval != 0 && time.Duration(c.Interval) < feeds.MinInterval:
			bad(key+".interval", fmt.Errorf("%v: at least %v (feed maintainers ban clients that poll too often)", time.Duration(c.Interval), feeds.MinInterval))
		default:
			names[c.Name] = true
			out = append(out, feeds.Feed{Name: c.Name, URL: c.URL, Format: feeds.Text, Enabled: true, Interval: time.Duration(c.Interval)})
		}
	}
	return out
}

// parseNotify checks the [notify] section; the notifier's own validation
// names each problem's field.
func parseNotify(n Notify, bad func(string, error)) notifyconf.Settings {
	s := notifyconf.Settings{Daily: n.Daily, DailyHour: n.DailyHour, Alerts: n.Alerts, AlertInterval: time.Duration(n.AlertInterval),
		SMTP: notifyconf.SMTP{Host: n.SMTP.Host, Port: n.SMTP.Port, Security: notifyconf.Security(n.SMTP.Security), User: n.SMTP.User,
			Password: n.SMTP.Password, From: n.SMTP.From, To: n.SMTP.To},
		Webhook: notifyconf.Webhook{URL: n.Webhook.URL, Token: n.Webhook.Token, Header: n.Webhook.Header}}
	if err := s.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			bad("notify", e)
		}
	}
	return s
}

// parseSyslog checks the [syslog] section.
func parseSyslog(s Syslog, bad func(string, error)) remotelog.Config {
	out := remotelog.Config{Address: s.Address, Hostname: s.Hostname, CA: s.CA}
	if s.Address != "" {
		if _, _, err := remotelog.ParseAddress(s.Address); err != nil {
			bad("syslog.address", err)
		}
	}
	var err error
	if out.Facility, err = remotelog.ParseFacility(s.Facility); err != nil {
		bad("syslog.facility", err)
	}
	if s.Hostname != "" {
		if err := remotelog.CheckHostname(s.Hostname); err != nil {
			bad("syslog.hostname", err)
		}
	}
	if s.CA != "" && !strings.HasPrefix(s.Address, "tls://") {
		bad("syslog.ca", errors.New("only for a tls:// address"))
	}
	return out
}

// parseCrowdSec checks the [crowdsec] section; each error names its key.
func parseCrowdSec(c CrowdSec, bad func(string, error)) crowdsec.Settings {
	s := crowdsec.Settings{Mode: crowdsec.Mode(c.Mode), URL: c.URL, BouncerKey: c.BouncerKey,
		MachineID: c.MachineID, MachinePassword: c.MachinePassword, Poll: time.Duration(c.Poll)}
	if err := s.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			if ke, ok := errors.AsType[*crowdsec.KeyError](e); ok {
				bad("crowdsec."+ke.Key, ke.Err)
			} else {
				bad("crowdsec", e)
			}
		}
	}
	return s
}

// parseTollFraud checks the [tollfraud] section.
func parseTollFraud(t TollFraud, bad func(string, error)) tollfraud.Rules {
	r := tollfraud.Rules{Enabled: t.Enabled, InternationalPrefix: t.InternationalPrefix, HighRisk: slices.Clone(t.HighRisk),
		CallsPerHour: t.CallsPerHour, HighRiskPerHour: t.HighRiskPerHour, Block: slices.Clone(t.Block)}
	var err error
	if r.OfficeHours, err = tollfraud.ParseHours(t.OfficeHours); err != nil {
		bad("tollfraud.office_hours", err)
	}
	if t.Timezone == "" {
		bad("tollfraud.timezone", errors.New("empty: want a time zone like UTC or Europe/Paris"))
	} else if r.Location, err = time.LoadLocation(t.Timezone); err != nil {
		bad("tollfraud.timezone", fmt.Errorf("%q is not a time zone like UTC or Europe/Paris", t.Timezone))
	}
	if err := r.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			key, msg, _ := strings.Cut(e.Error(), ": ") // each names its key
			bad("tollfraud."+key, errors.New(msg))
		}
	}
	return r
}

// unwrapAll splits a joined error into its parts.
func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
