package cli

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
	"github.com/sipguard/sipguard/netfilter"
)

// notKeys are the daemon's flags that set no configuration key.
var notKeys = []string{"config", "allow", "deny", "help"}

// Every setting flag of the daemon is a configuration key, and its default
// is the default file's.
func TestDaemonFlagsAreKeys(t *testing.T) {
	cmd := daemonCmd(Env{}, &daemonConn{})
	defaults, err := config.Effective(nil)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]keyFlag{}
	for _, f := range daemonFlags() {
		declared[f.name] = f
		if !slices.Contains(config.Keys(), f.key) {
			t.Errorf("--%s: %s is not a configuration key", f.name, f.key)
			continue
		}
		fl := cmd.Flags().Lookup(f.name)
		if fl == nil {
			t.Errorf("--%s is not a flag of the daemon", f.name)
			continue
		}
		s, err := config.Lookup(f.key)
		if err != nil {
			t.Fatal(err)
		}
		if f.as.fromKey == nil && fl.DefValue != s.Default {
			t.Errorf("--%s: default %q; %s's default is %q", f.name, fl.DefValue, f.key, s.Default)
		}
		// The flag given its own default leaves the configuration at its
		// defaults.
		value, set := fl.DefValue, true
		if f.as.toKey != nil {
			value, set = f.as.toKey(fl.DefValue, s.Default)
		}
		if !set {
			continue
		}
		data, err := config.Apply(nil, config.Change{Key: f.key, Value: value})
		if err != nil {
			t.Errorf("--%s=%s: %v", f.name, fl.DefValue, err)
			continue
		}
		got, err := config.Effective(data)
		if err != nil || !reflect.DeepEqual(got, defaults) {
			t.Errorf("--%s=%s (%s = %s) changes the defaults: %v", f.name, fl.DefValue, f.key, value, err)
		}
	}
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if _, ok := declared[fl.Name]; !ok && !slices.Contains(notKeys, fl.Name) {
			t.Errorf("--%s is neither a configuration key nor one of %v", fl.Name, notKeys)
		}
	})
}

// overridden reads data with the daemon's flags args over it.
func overridden(t *testing.T, data string, args ...string) (config.Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("daemon", pflag.ContinueOnError)
	o := newOverrides(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o.apply([]byte(data))
}

// Flags given on the command line win over the file; the others leave it
// as it is.
func TestDaemonFlagsOverTheFile(t *testing.T) {
	file := `
[ports]
wan = "eth1"
lan = "eth0"
[sip]
protocols = ["udp"]
register_limit = 3
flood_rate = 20
[protection]
tftp_limit = "5/second"
[feeds]
custom = [{ name = "mine", url = "https://example.com/list.txt" }]
`
	cfg, err := overridden(t, file, "--wan", "eth0", "--lan", "eth1", "--register-limit", "7", "--no-sip-tcp=false",
		"--scanner-agents", "none", "--tftp-rate", "1/minute", "--no-tftp-limit", "--no-feeds", "--ban-prefix6", "56",
		"--admin", "192.0.2.1", "--admin", "2001:db8::/48,198.51.100.0/24", "--allow", "203.0.113.9", "--block-time", "1h")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bridge.WAN != "eth0" || cfg.Bridge.LAN != "eth1" || cfg.Rules.WAN != "eth0" {
		t.Errorf("ports: %+v", cfg.Bridge)
	}
	r, s := cfg.Rules, cfg.SIP
	if s.RegisterLimit != 7 || s.FloodRate != 20 || len(s.ScannerAgents) != 0 || s.BlockTime != time.Hour {
		t.Errorf("sip rules: %+v", s)
	}
	if !r.SIPUDP || !r.SIPTCP || r.TFTP != nil || r.BanPrefix6 != 56 || s.Prefix6 != 56 || len(r.Admin) != 3 ||
		!slices.Equal(r.Allow, []netip.Prefix{netip.MustParsePrefix("203.0.113.9/32")}) {
		t.Errorf("ruleset: %+v", r)
	}
	var enabled []string
	for _, f := range cfg.Feeds {
		if f.Enabled {
			enabled = append(enabled, f.Name)
		}
	}
	if !slices.Equal(enabled, []string{"mine"}) { // --no-feeds: no default feeds; the file's own stay
		t.Errorf("feeds enabled: %v", enabled)
	}

	// No flag: the file as it is.
	cfg, err = overridden(t, file)
	if err != nil || cfg.SIP.RegisterLimit != 3 || cfg.Rules.SIPTCP || cfg.Rules.TFTP == nil || cfg.Rules.TFTP.Per != time.Second {
		t.Errorf("the file alone: %+v, %v", cfg.Rules, err)
	}
	// Without a file, the flags are over the defaults.
	cfg, err = overridden(t, "", "--no-sip-udp", "--no-dns-guard", "--on-stop", "remove", "--mgmt-dhcp", "--mgmt-gw4", "192.0.2.1")
	if err != nil || cfg.Rules.SIPUDP || !cfg.Rules.SIPTCP || cfg.Rules.DNSGuard || cfg.OnStop != config.RemoveRules ||
		cfg.Bridge.Mgmt == nil || !cfg.Bridge.Mgmt.DHCP || cfg.Bridge.Mgmt.Gateway4 != netip.MustParseAddr("192.0.2.1") ||
		cfg.Rules.TFTP == nil || cfg.Rules.Countries != netfilter.CountriesOff {
		t.Errorf("flags over the defaults: %+v %+v, %v", cfg.Rules, cfg.Bridge, err)
	}
}

// A bad flag is refused with the flag's name and the key's message, as
// `config set` gives it.
func TestDaemonFlagErrorsNameTheFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--register-limit", "1001"}, "--register-limit: sip.register_limit: 1001 is outside 1–1000"},
		{[]string{"--register-limit", "x"}, `--register-limit: sip.register_limit: "x" is not a whole number`},
		{[]string{"--trust-window", "soon"}, `--trust-window: sip.trust_window: "soon" is not a duration`},
		{[]string{"--ban-prefix6", "40"}, "--ban-prefix6: sip.prefix6: 40 is outside 48–128"},
		{[]string{"--no-sip-udp", "--no-sip-tcp"}, "--no-sip-tcp, --no-sip-udp: sip.protocols: at least one of udp, tcp"},
		{[]string{"--tftp-burst", "-1"}, "--tftp-burst: "},
		{[]string{"--on-stop", "pause"}, `--on-stop: state.on_stop: "pause" is not keep or remove`},
	} {
		_, err := overridden(t, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want an error with %q", c.args, err, c.want)
		}
		if _, ok := err.(usageError); !ok {
			t.Errorf("%v: %T is not a usage error", c.args, err)
		}
	}
}
