package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sipguard/sipguard/board"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/daemon"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/initd"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

// keyFlag is a daemon flag that sets a configuration key. Given on the
// command line, it sets its key over the configuration file (or over the
// defaults, without --config) as `sipguard config set` would, before the
// configuration is read: the same parser, the same checks, the same
// messages. Its default is the key's, read from the default file.
type keyFlag struct {
	name, key, usage string
	as               mapping
}

// mapping relates a flag's value to its key's. The zero mapping is the
// identity: the flag's value is the key's.
type mapping struct {
	// kind is the flag's kind when it is not the key's (a --no- flag is a
	// boolean whatever its key).
	kind string
	// fromKey is the flag's value for a value of the key (its default).
	fromKey func(key string) string
	// toKey is the key's value for the flag's, given the key's value
	// before; false leaves the key as it is.
	toKey func(flag, key string) (string, bool)
}

// negated is a --no- flag of a boolean key: the key is the opposite.
var negated = mapping{kind: "bool",
	fromKey: func(key string) string { b, _ := strconv.ParseBool(key); return strconv.FormatBool(!b) },
	toKey: func(flag, _ string) (string, bool) {
		b, _ := strconv.ParseBool(flag) // checked when the flag was parsed
		return strconv.FormatBool(!b), true
	},
}

// setsTo is a --no- flag that sets its key to value; false leaves the key
// as it is.
func setsTo(value string) mapping {
	return mapping{kind: "bool",
		fromKey: func(key string) string { return strconv.FormatBool(key == value) },
		toKey: func(flag, _ string) (string, bool) {
			b, _ := strconv.ParseBool(flag)
			return value, b
		},
	}
}

// without is a --no- flag that takes item out of a list key; false puts
// it in.
func without(item string) mapping {
	return mapping{kind: "bool",
		fromKey: func(key string) string { return strconv.FormatBool(!slices.Contains(splitList(key), item)) },
		toKey: func(flag, key string) (string, bool) {
			b, _ := strconv.ParseBool(flag)
			list := splitList(key)
			switch {
			case b:
				list = slices.DeleteFunc(list, func(s string) bool { return s == item })
			case !slices.Contains(list, item):
				list = append(list, item)
			}
			return strings.Join(list, ","), true
		},
	}
}

// noneIsEmpty is a list flag where "none" stands for the empty list.
var noneIsEmpty = mapping{
	toKey: func(flag, _ string) (string, bool) {
		list := slices.DeleteFunc(splitList(flag), func(s string) bool { return s == "none" })
		return strings.Join(list, ","), true
	},
}

func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// daemonFlags are the daemon's flags that are configuration keys, in the
// order they are applied (a later one wins over an earlier one of the same
// key: --no-tftp-limit over --tftp-rate).
func daemonFlags() []keyFlag {
	return []keyFlag{
		{name: "bridge", key: "ports.bridge", usage: "name of the bridge"},
		{name: "wan", key: "ports.wan", usage: "port facing the internet (modem side); empty: the board's"},
		{name: "lan", key: "ports.lan", usage: "port facing the office (PBX side); empty: the board's"},
		{name: "board", key: "board.name", usage: "board: " + strings.Join(board.Names(), ", ") + "; empty: read from the device tree"},
		{name: "leds", key: "board.leds", usage: "LED set: onboard, rgb, bicolour or none; empty: the board's own"},
		{name: "no-feeds", key: "feeds.defaults", usage: "do not load the global blocklists (VoIPBL, FireHOL level1, Spamhaus DROP)", as: negated},
		{name: "mgmt-addr", key: "management.addresses", usage: "management address of the box on the bridge, e.g. 192.0.2.2/24 (repeatable)"},
		{name: "mgmt-dhcp", key: "management.dhcp", usage: "take the box's management addresses by DHCP (IPv4) and SLAAC and DHCPv6 (IPv6)"},
		{name: "mgmt-gw4", key: "management.gateway4", usage: "IPv4 default gateway of the box's own traffic"},
		{name: "mgmt-gw6", key: "management.gateway6", usage: "IPv6 default gateway of the box's own traffic"},
		{name: "admin", key: "management.admin", usage: "addresses or networks that may reach the box from the wan (repeatable)"},
		{name: "https-port", key: "management.https_port", usage: "port of the dashboard and the HTTPS API on the management address"},
		{name: "http-port", key: "management.http_port", usage: "port of plain HTTP, which redirects to HTTPS (0: off)"},
		{name: "hostname", key: "management.hostname", usage: "the box answers mDNS for this name .local"},
		{name: "ntp", key: "management.ntp", usage: "time servers, asked after the DHCP lease's (repeatable; \"none\" for the lease's alone)", as: noneIsEmpty},
		{name: "no-set-clock", key: "management.set_clock", usage: "only report the clock's offset from NTP, never set the clock", as: negated},
		{name: "sip-ports", key: "sip.ports", usage: "SIP ports and ranges, e.g. 5060,5080:5082"},
		{name: "no-sip-udp", key: "sip.protocols", usage: "SIP does not use UDP", as: without("udp")},
		{name: "no-sip-tcp", key: "sip.protocols", usage: "SIP does not use TCP", as: without("tcp")},
		{name: "trusted-sip", key: "sip.trusted_only", usage: "only allowlisted sources reach the SIP ports"},
		{name: "no-first-packet", key: "sip.first_packet", usage: "forward a new source's first SIP datagram without waiting for its verdict", as: negated},
		{name: "restrict-tcp", key: "protection.restricted_tcp", usage: "office TCP ports that no new connection from the wan may reach"},
		{name: "tftp-rate", key: "protection.tftp_limit", usage: "TFTP requests allowed per source"},
		{name: "tftp-burst", key: "protection.tftp_burst", usage: "TFTP requests allowed in a burst"},
		{name: "no-tftp-limit", key: "protection.tftp_limit", usage: "do not rate-limit TFTP", as: setsTo("off")},
		{name: "no-dns-guard", key: "protection.dns_guard", usage: "let DNS responses over 2048 bytes through (CVE-2015-7547)", as: negated},
		{name: "ban-prefix6", key: "sip.prefix6", usage: fmt.Sprintf("length of the IPv6 prefix a source is counted and banned by (%d-128)", sip.MinPrefix6)},
		{name: "register-limit", key: "sip.register_limit", usage: "unauthorized REGISTER attempts a minute before a ban"},
		{name: "invite-limit", key: "sip.invite_limit", usage: "unauthorized INVITE attempts a minute before a ban"},
		{name: "invite-block-time", key: "sip.invite_block_time", usage: "how long an INVITE ban lasts"},
		{name: "hourly-limit", key: "sip.hourly_limit", usage: "unauthorized attempts an hour before a ban (slow brute force)"},
		{name: "flood-rate", key: "sip.flood_rate", usage: "SIP requests a second from one source before a ban (burst twice as many)"},
		{name: "block-time", key: "sip.block_time", usage: "how long a ban lasts after the source's last packet (BLOCKTIME)"},
		{name: "block-threshold", key: "sip.block_threshold", usage: "dynamic bans before a source is banned permanently (1-20)"},
		{name: "scanner-agents", key: "sip.scanner_agents", usage: "User-Agents banned at the first packet (\"none\" for none)", as: noneIsEmpty},
		{name: "trust-window", key: "sip.trust_window", usage: "how long a source that registered successfully is trusted"},
		{name: "trusted-failures", key: "sip.trusted_failures", usage: "failures per extension from a trusted source that raise an alert instead of a ban"},
		{name: "trusted-other-extensions", key: "sip.trusted_other_extensions", usage: "extensions that never registered from a trusted source whose failures are tolerated too"},
		{name: "trunk-failures", key: "sip.trunk_failures", usage: "failed calls tolerated from a trunk the PBX answered without a challenge"},
		{name: "guess-limit", key: "sip.guess_limit", usage: "failures a source that never authenticated may have in guess-period before a ban (slow guessing)"},
		{name: "guess-period", key: "sip.guess_period", usage: "the period of guess-limit and network-limit"},
		{name: "network-limit", key: "sip.network_limit", usage: "failures of never-authenticated sources of one network per guess-period before the network is banned (0: off)"},
		{name: "network4", key: "sip.network4", usage: "length of the IPv4 network that network-limit counts (8-32)"},
		{name: "network6", key: "sip.network6", usage: "length of the IPv6 network that network-limit counts (32-128)"},
		{name: "hijack-sources", key: "sip.hijack_sources", usage: "sources an extension registers from within hijack-window that make a hijack (2-4)"},
		{name: "hijack-window", key: "sip.hijack_window", usage: "the window of hijack-sources"},
		{name: "hijack-new-country", key: "sip.hijack_new_country", usage: "an extension registering from another country than its last is a hijack"},
		{name: "hijack-action", key: "sip.hijack_action", usage: "what a hijack leads to: alert, or ban the source that completed it"},
		{name: "syslog", key: "syslog.address", usage: "remote syslog of bans, alerts, tamper warnings and admin actions: udp://, tcp:// or tls://host[:port] (empty: off)"},
		{name: "state", key: "state.file", usage: "state file keeping lists and bans across restarts and reboots (none if empty)"},
		{name: "on-stop", key: "state.on_stop", usage: "on stop, keep the ruleset and bans in force (keep) or remove them (remove)"},
	}
}

// flagValue is a key flag's value as given on the command line, written
// as `config set` takes it.
type flagValue struct {
	kind  string // as config.Setting.Kind
	text  string
	given bool
}

func (v *flagValue) String() string { return v.text }

// Set takes a value from the command line; a list flag may be repeated,
// each adding to the list (the first replacing the default).
func (v *flagValue) Set(s string) error {
	switch {
	case v.kind == "bool":
		if _, err := strconv.ParseBool(s); err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
	case v.kind == "list" && v.given && v.text != "":
		s = v.text + "," + s
	}
	v.text, v.given = s, true
	return nil
}

// Type names the value's kind in the help.
func (v *flagValue) Type() string {
	if v.kind == "list" {
		return "strings"
	}
	return v.kind
}

// IsBoolFlag lets a boolean flag be given without a value.
func (v *flagValue) IsBoolFlag() bool { return v.kind == "bool" }

// addKeyFlag declares f on fs, its default read from the default file.
func addKeyFlag(fs *pflag.FlagSet, f keyFlag) (*flagValue, error) {
	s, err := config.Lookup(f.key)
	if err != nil {
		return nil, fmt.Errorf("flag --%s: %w", f.name, err)
	}
	v := &flagValue{kind: s.Kind, text: s.Default}
	if f.as.kind != "" {
		v.kind = f.as.kind
	}
	if f.as.fromKey != nil {
		v.text = f.as.fromKey(s.Default)
	}
	fl := fs.VarPF(v, f.name, "", f.usage+" ["+f.key+"]")
	if v.kind == "bool" {
		fl.NoOptDefVal = "true"
	}
	return v, nil
}

// overrides is what the daemon's command line sets over the configuration.
type overrides struct {
	flags  []keyFlag
	values []*flagValue
	// allow and deny are not configuration keys: the lists of the state
	// file hold them; these are added for this run.
	allow, deny []string
}

// newOverrides declares the daemon's configuration flags on fs: the key
// flags, --allow and --deny.
func newOverrides(fs *pflag.FlagSet) *overrides {
	o := &overrides{flags: daemonFlags()}
	for _, kf := range o.flags {
		v, err := addKeyFlag(fs, kf)
		if err != nil {
			panic(err) // a flag without its key: a build error, which tests catch
		}
		o.values = append(o.values, v)
	}
	fs.StringSliceVar(&o.allow, "allow", nil, "addresses or networks never filtered, besides the state file's allow list (repeatable)")
	fs.StringSliceVar(&o.deny, "deny", nil, "addresses or networks always dropped, besides the state file's deny list (repeatable)")
	return o
}

// apply reads the configuration data gives (a file's, or the defaults
// when nil) with the flags given on the command line set over it. A bad
// flag is a usage error naming the flag.
func (o *overrides) apply(data []byte) (config.Config, error) {
	var changes []config.Change
	keyOf := map[string][]string{} // the flags given of each key
	current := map[string]string{} // each key's value as the flags leave it
	for i, f := range o.flags {
		v := o.values[i]
		if !v.given {
			continue
		}
		value, set := v.text, true
		if f.as.toKey != nil {
			cur, ok := current[f.key]
			if !ok {
				var err error
				if cur, err = config.Value(data, f.key); err != nil {
					return config.Config{}, err
				}
			}
			value, set = f.as.toKey(v.text, cur)
		}
		if !set {
			continue
		}
		current[f.key] = value
		changes = append(changes, config.Change{Key: f.key, Value: value})
		keyOf[f.key] = append(keyOf[f.key], "--"+f.name)
	}
	edited, err := config.Apply(data, changes...)
	if err != nil {
		return config.Config{}, usageError{flagErrors(err, keyOf)}
	}
	cfg, err := config.Parse(edited)
	if err != nil {
		return config.Config{}, err // Apply has checked it
	}
	r := &cfg.Rules
	for _, l := range []struct {
		flag string
		in   []string
		out  *[]netip.Prefix
	}{{"--allow", o.allow, &r.Allow}, {"--deny", o.deny, &r.Deny}} {
		if *l.out, err = parsePrefixes(l.flag, l.in); err != nil {
			return config.Config{}, usageError{err}
		}
	}
	return cfg, nil
}

// flagErrors names, in each of err's messages, the flags that set the key
// it is about.
func flagErrors(err error, keyOf map[string][]string) error {
	var out []error
	for _, e := range flatten(err) {
		msg := e.Error()
		var flags []string
		for key, names := range keyOf {
			if strings.HasPrefix(msg, key+":") || strings.HasPrefix(msg, key+"[") || strings.Contains(msg, `key "`+key+`"`) {
				flags = append(flags, names...)
			}
		}
		if len(flags) > 0 {
			slices.Sort(flags)
			e = fmt.Errorf("%s: %w", strings.Join(flags, ", "), e)
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// flatten splits joined errors into their parts.
func flatten(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

func daemonCmd(env Env, dc *daemonConn) *cobra.Command {
	var configPath string
	var o *overrides
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Bridge the ports and protect the PBX until stopped",
		Long: `Run the box's service: create the bridge between the wan and lan ports,
apply the ruleset, and keep it in force until SIGTERM or SIGINT.

Each setting's flag sets its configuration key (shown in brackets) over
the configuration file, or over the defaults without --config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath != "" {
				// The API tells the command line which file this is, from
				// whatever folder it runs in.
				if abs, err := filepath.Abs(configPath); err == nil {
					configPath = abs
				}
			}
			// load reads the configuration file (or the defaults), with the
			// flags given on the command line over it.
			var load, reread func() (daemon.Config, error)
			load = func() (daemon.Config, error) {
				var data []byte
				if configPath != "" {
					var err error
					if data, err = os.ReadFile(configPath); err != nil {
						return daemon.Config{}, err
					}
					if _, err := config.Parse(data); err != nil {
						return daemon.Config{}, fmt.Errorf("%s: %w", configPath, err)
					}
				}
				c, err := o.apply(data)
				return daemon.Config{Config: c, API: dc.socket, ConfigFile: configPath, Version: env.Version, Reload: reread}, err
			}
			if configPath != "" {
				reread = load
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			log := logger(cmd.ErrOrStderr())
			warnReadable(log, configPath)
			reloads := make(chan daemon.Config, 1)
			// SIGHUP reads the configuration file again; a bad file changes
			// nothing.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					if reread == nil {
						log.Warn("SIGHUP: no configuration file (--config) to read again")
						continue
					}
					next, err := reread()
					if err != nil {
						log.Error("configuration not applied; the last one stays in force", "err", err)
						continue
					}
					log.Info("reloading configuration", "file", configPath)
					reloads <- next
				}
			}()
			// The factory reset writes the default configuration file and
			// starts the service again on it; under the box's init, the box
			// reboots.
			underInit := initd.UnderInit()
			for {
				if configPath != "" {
					cfg.FactoryDefaults = func() error { return config.WriteFile(configPath, config.Default()) }
				}
				if underInit {
					cfg.Halt = initd.RequestHalt
				}
				if cfg.State != "" {
					cfg.Firmware = daemon.FirmwareFromEnv(filepath.Dir(cfg.State))
				}
				err := daemon.Run(cmd.Context(), log, cfg, nil, reloads)
				if !errors.Is(err, daemon.ErrFactoryReset) {
					return err
				}
				if underInit {
					return initd.RequestHalt(api.HaltReboot)
				}
				if cfg, err = load(); err != nil {
					return err
				}
			}
		},
	}
	f := cmd.Flags()
	o = newOverrides(f)
	f.StringVar(&configPath, "config", "", "configuration file (TOML; `sipguard config defaults` prints one); flags given on the command line win")
	return cmd
}

func parsePrefixes(flag string, in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		p, err := netfilter.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// warnReadable warns when the configuration file, which holds secrets
// (SMTP password, API keys), is readable by others than its owner.
func warnReadable(log *slog.Logger, path string) {
	if path == "" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	log.Warn("the configuration file holds secrets and is readable by others than its owner: chmod 600 it",
		"file", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
}
