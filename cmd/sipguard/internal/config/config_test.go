package config

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
	"github.com/sipguard/sipguard/sip/portrange"
)

// The defaults are written once, in default.toml; the packages' own
// defaults must say the same.
func TestEmptyFileIsTheDefaults(t *testing.T) {
	cfg, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.SIP, sip.DefaultRules()) {
		t.Errorf("sip defaults differ:\n file %+v\n code %+v", cfg.SIP, sip.DefaultRules())
	}
	rules := netfilter.Defaults()
	rules.WAN = "" // the board's, found when the service starts
	if !reflect.DeepEqual(cfg.Rules, rules) {
		t.Errorf("ruleset defaults differ:\n file %+v\n code %+v", cfg.Rules, rules)
	}
	// Out of the box, the box takes its management addresses by DHCP and
	// SLAAC, and nothing else.
	if m := cfg.Bridge.Mgmt; m == nil || !m.DHCP || !m.SLAAC || len(m.Addrs) != 0 || m.Gateway4.IsValid() || m.Gateway6.IsValid() {
		t.Errorf("management defaults: %+v", cfg.Bridge.Mgmt)
	}
	if m := cfg.Management; m.Hostname != "sipguard" || len(m.NTP) == 0 || !m.SetClock {
		t.Errorf("name and clock defaults: %+v", m)
	}
	if cfg.Bridge.Name != "br0" || cfg.Bridge.WAN != "" || cfg.Bridge.LAN != "" || cfg.OnStop != "keep" || cfg.State != "" ||
		cfg.Board != "" || cfg.LEDs != "" {
		t.Errorf("bridge and state defaults: %+v", cfg)
	}
}

func TestFullFile(t *testing.T) {
	cfg, err := Parse([]byte(`
[ports]
wan = "eth0"
lan = "eth1"

[management]
addresses = ["192.0.2.2/24", "2001:db8:1::2/64"]
gateway4 = "192.0.2.1"
admin = ["198.51.100.10", "2001:db8:c::/48"]

[sip]
ports = "5060,5080:5082"
protocols = ["udp"]
register_limit = 3
block_time = "1h"
prefix6 = 56
scanner_agents = []

[protection]
tftp_limit = "off"
countries = "allow-only"

[state]
file = "/data/sipguard/state.db"
on_stop = "remove"
`))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Bridge.Mgmt
	if cfg.Bridge.WAN != "eth0" || cfg.Rules.WAN != "eth0" || m == nil || len(m.Addrs) != 2 || m.Gateway4 != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("ports and management: %+v %+v", cfg.Bridge, m)
	}
	r := cfg.Rules
	if !slices.Equal(r.SIPPorts, []portrange.Range{{First: 5060, Last: 5060}, {First: 5080, Last: 5082}}) || !r.SIPUDP || r.SIPTCP || r.TFTP != nil ||
		r.Countries != netfilter.CountriesAllowOnly || len(r.Admin) != 2 {
		t.Errorf("ruleset: %+v", r)
	}
	if cfg.SIP.Prefix6 != 56 || r.BanPrefix6 != 56 {
		t.Errorf("prefix6: sip %d, ruleset %d; want 56 for both", cfg.SIP.Prefix6, r.BanPrefix6)
	}
	if cfg.SIP.RegisterLimit != 3 || cfg.SIP.BlockTime != time.Hour || len(cfg.SIP.ScannerAgents) != 0 || cfg.SIP.InviteLimit != 5 {
		t.Errorf("sip rules: %+v", cfg.SIP)
	}
	if cfg.State != "/data/sipguard/state.db" || cfg.OnStop != "remove" {
		t.Errorf("state: %q %q", cfg.State, cfg.OnStop)
	}
}

// badFile has a mistake in nearly every section.
const badFile = `
[board]
name = "rpi3"
leds = "disco"
[ports]
wan = "wan"
lan = "wan"
[management]
addresses = ["192.0.2.2"]
gateway6 = "192.0.2.1"
hostname = "sip guard"
ntp = ["pool.ntp.org", "192.0.2.123:123", "[2001:db8::123]:99999", "bad_name!"]
[sip]
ports = "5060:5000"
protocols = ["sctp"]
block_threshold = 30
prefix6 = 40
registr_limit = 4
[protection]
tftp_limit = "10/fortnight"
countries = "some"
[state]
on_stop = "pause"
`

// Every problem is reported, each naming its key and what it accepts.
func TestErrorsNameTheKey(t *testing.T) {
	_, err := Parse([]byte(strings.Replace(badFile, "registr_limit = 4\n", "registr_limit = 4\nblock_time = \"ten minutes\"\n", 1)))
	if err == nil {
		t.Fatal("a bad file was accepted")
	}
	for _, want := range []string{
		"block_time", "ten minutes", // a bad duration stops the decoding itself
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = Parse([]byte(badFile))
	for _, want := range []string{
		"sip.registr_limit: unknown key",
		"ports.lan: \"wan\" is also the wan port",
		`board.name: board "rpi3": unknown board`,
		`board.leds: "disco": want one of`,
		"management.addresses[0]: \"192.0.2.2\" is not an address with its prefix length",
		"management.gateway6: \"192.0.2.1\" is not an IPv6 address",
		"management.hostname: \"sip guard\" is not a host name",
		"management.ntp[2]: \"[2001:db8::123]:99999\": port \"99999\" is not 1-65535",
		"management.ntp[3]: \"bad_name!\" is not a host name or address",
		"sip.ports: port range \"5060:5000\" runs backwards",
		"sip.protocols[0]: \"sctp\" is not udp or tcp",
		"sip.block_threshold: 30 is outside 1–20",
		"sip.prefix6: 40 is outside 48–128",
		"protection.tftp_limit",
		"protection.countries: \"some\" is not off, block or allow-only",
		"state.on_stop: \"pause\" is not keep or remove",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := Parse([]byte("[sip\nports = 5060")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("syntax error: %v", err)
	}
}

// With management.dhcp false and no address, the box has none: invisible.
func TestManagementOff(t *testing.T) {
	cfg, err := Parse([]byte("[management]\ndhcp = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bridge.Mgmt != nil {
		t.Errorf("management without DHCP or addresses: %+v", cfg.Bridge.Mgmt)
	}
	cfg, err = Parse([]byte("[management]\ndhcp = false\naddresses = [\"192.0.2.2/24\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Bridge.Mgmt; m == nil || m.DHCP || m.SLAAC || len(m.Addrs) != 1 {
		t.Errorf("a fixed address alone: %+v", m)
	}
}
