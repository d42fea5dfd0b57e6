package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/board"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/daemon"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/initd"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/portrange"
	"github.com/sipguard/sipguard/sip"
)

func daemonCmd(env Env, socket *string) *cobra.Command {
	var (
		bridge, wan, lan       string
		mgmtAddrs              []string
		gw4, gw6               string
		admin, allow, deny     []string
		sipPorts, restricted   string
		tftpRate               string
		tftpBurst              uint32
		noTFTP, noDNS, trusted bool
		noUDP, noTCP, dhcp     bool
		banPrefix6             int
		onStop                 string
		scanners               []string
		state, configPath      string
		boardName, ledSet      string
		noFeeds                bool
	)
	def := netfilter.Defaults()
	sipDef := sip.DefaultRules()
	sr := sipDef
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Bridge the ports and protect the PBX until stopped",
		Long: `Run the box's service: create the bridge between the wan and lan ports,
apply the ruleset, and keep it in force until SIGTERM or SIGINT.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := daemon.Config{Config: config.Config{
				Bridge: netfilter.BridgeConfig{Name: bridge, WAN: wan, LAN: lan},
				Rules:  def,
				SIP:    sr,
				OnStop: config.StopMode(onStop),
				State:  state,
				Board:  boardName,
				LEDs:   ledSet,
			}, API: *socket}
			if !noFeeds {
				cfg.Feeds = feeds.Defaults("")
			}
			cfg.SIP.ScannerAgents = nil
			for _, a := range scanners {
				if a != "none" && a != "" {
					cfg.SIP.ScannerAgents = append(cfg.SIP.ScannerAgents, a)
				}
			}
			r := &cfg.Rules
			r.WAN = wan
			var err error
			for _, l := range []struct {
				flag string
				in   []string
				out  *[]netip.Prefix
			}{{"--admin", admin, &r.Admin}, {"--allow", allow, &r.Allow}, {"--deny", deny, &r.Deny}} {
				if *l.out, err = parsePrefixes(l.flag, l.in); err != nil {
					return usageError{err}
				}
			}
			if r.SIPPorts, err = portrange.Parse(sipPorts); err != nil {
				return usageError{fmt.Errorf("--sip-ports: %w", err)}
			}
			if r.RestrictedTCP, err = portrange.Parse(restricted); err != nil {
				return usageError{fmt.Errorf("--restrict-tcp: %w", err)}
			}
			r.SIPUDP, r.SIPTCP, r.TrustedSIP = !noUDP, !noTCP, trusted
			r.DNSGuard = !noDNS
			r.BanPrefix6 = banPrefix6
			r.TFTP = nil
			if !noTFTP {
				rate, per, err := netfilter.ParseRate(tftpRate)
				if err != nil {
					return usageError{fmt.Errorf("--tftp-rate: %w", err)}
				}
				r.TFTP = &netfilter.RateLimit{Rate: rate, Per: per, Burst: tftpBurst}
			}
			if len(mgmtAddrs) > 0 || dhcp {
				m := &netfilter.Mgmt{DHCP: dhcp}
				if m.Addrs, err = parseInterfacePrefixes(mgmtAddrs); err != nil {
					return usageError{err}
				}
				for _, g := range []struct {
					flag, in string
					out      *netip.Addr
				}{{"--mgmt-gw4", gw4, &m.Gateway4}, {"--mgmt-gw6", gw6, &m.Gateway6}} {
					if g.in == "" {
						continue
					}
					if *g.out, err = netip.ParseAddr(g.in); err != nil {
						return usageError{fmt.Errorf("%s: %q is not an address", g.flag, g.in)}
					}
				}
				cfg.Bridge.Mgmt = m
			}
			cfg.SIP.Prefix6 = r.BanPrefix6
			// reread reads the configuration file, with the flags given on
			// the command line over it.
			var reread func() (daemon.Config, error)
			if configPath != "" {
				// The API tells the command line which file this is, from
				// whatever folder it runs in.
				if abs, err := filepath.Abs(configPath); err == nil {
					configPath = abs
				}
				flagsCfg := cfg
				reread = func() (daemon.Config, error) {
					file, err := config.Load(configPath)
					if err != nil {
						return daemon.Config{}, err
					}
					c := overrideChanged(cmd, daemon.Config{Config: file}, flagsCfg)
					c.API, c.ConfigFile, c.Reload = flagsCfg.API, configPath, reread
					return c, nil
				}
				if cfg, err = reread(); err != nil {
					return err
				}
			}
			if err := config.ValidateRules(cfg.Rules); err != nil {
				return usageError{err}
			}
			if err := cfg.SIP.Validate(); err != nil {
				return usageError{err}
			}
			log := logger(cmd.ErrOrStderr())
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
				if reread != nil {
					if cfg, err = reread(); err != nil {
						return err
					}
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&bridge, "bridge", "br0", "name of the bridge")
	f.StringVar(&wan, "wan", "", "port facing the internet (modem side); empty: the board's")
	f.StringVar(&lan, "lan", "", "port facing the office (PBX side); empty: the board's")
	f.StringVar(&boardName, "board", "", "board: "+strings.Join(board.Names(), ", ")+"; empty: read from the device tree")
	f.StringVar(&ledSet, "leds", "", "LED set: onboard, rgb, bicolour or none; empty: the board's own")
	f.BoolVar(&noFeeds, "no-feeds", false, "do not load the global blocklists (VoIPBL, FireHOL level1, Spamhaus DROP)")
	f.StringSliceVar(&mgmtAddrs, "mgmt-addr", nil, "management address of the box on the bridge, e.g. 192.0.2.2/24 (repeatable)")
	f.BoolVar(&dhcp, "mgmt-dhcp", false, "take the box's IPv4 management address by DHCP")
	f.StringVar(&gw4, "mgmt-gw4", "", "IPv4 default gateway of the box's own traffic")
	f.StringVar(&gw6, "mgmt-gw6", "", "IPv6 default gateway of the box's own traffic")
	f.StringSliceVar(&admin, "admin", nil, "addresses or networks that may reach the box from the wan (repeatable)")
	f.StringSliceVar(&allow, "allow", nil, "addresses or networks never filtered (repeatable)")
	f.StringSliceVar(&deny, "deny", nil, "addresses or networks always dropped (repeatable)")
	f.StringVar(&sipPorts, "sip-ports", "5060", "SIP ports and ranges, e.g. 5060,5080:5082")
	f.BoolVar(&noUDP, "no-sip-udp", false, "SIP does not use UDP")
	f.BoolVar(&noTCP, "no-sip-tcp", false, "SIP does not use TCP")
	f.BoolVar(&trusted, "trusted-sip", false, "only allowlisted sources reach the SIP ports")
	f.StringVar(&restricted, "restrict-tcp", "22,80,443,8080,8443", "office TCP ports that no new connection from the wan may reach")
	f.StringVar(&tftpRate, "tftp-rate", "10/minute", "TFTP requests allowed per source")
	f.Uint32Var(&tftpBurst, "tftp-burst", 100, "TFTP requests allowed in a burst")
	f.BoolVar(&noTFTP, "no-tftp-limit", false, "do not rate-limit TFTP")
	f.BoolVar(&noDNS, "no-dns-guard", false, "let DNS responses over 2048 bytes through (CVE-2015-7547)")
	f.IntVar(&banPrefix6, "ban-prefix6", def.BanPrefix6, "length of the IPv6 prefix one ban covers (48-128)")
	f.IntVar(&sr.RegisterLimit, "register-limit", sipDef.RegisterLimit, "unauthorized REGISTER attempts a minute before a ban")
	f.IntVar(&sr.InviteLimit, "invite-limit", sipDef.InviteLimit, "unauthorized INVITE attempts a minute before a ban")
	f.DurationVar(&sr.InviteBlockTime, "invite-block-time", sipDef.InviteBlockTime, "how long an INVITE ban lasts")
	f.IntVar(&sr.HourlyLimit, "hourly-limit", sipDef.HourlyLimit, "unauthorized attempts an hour before a ban (slow brute force)")
	f.IntVar(&sr.FloodRate, "flood-rate", sipDef.FloodRate, "SIP requests a second from one source before a ban (burst twice as many)")
	f.DurationVar(&sr.BlockTime, "block-time", sipDef.BlockTime, "how long a ban lasts after the source's last packet (BLOCKTIME)")
	f.IntVar(&sr.BlockThreshold, "block-threshold", sipDef.BlockThreshold, "dynamic bans before a source is banned permanently (1-20)")
	f.StringSliceVar(&scanners, "scanner-agents", sipDef.ScannerAgents, "User-Agents banned at the first packet (\"none\" for none)")
	f.DurationVar(&sr.TrustWindow, "trust-window", sipDef.TrustWindow, "how long a source that registered successfully is trusted")
	f.IntVar(&sr.TrustedFailures, "trusted-failures", sipDef.TrustedFailures, "failures from a trusted source that raise an alert instead of a ban")
	f.StringVar(&configPath, "config", "", "configuration file (TOML; `sipguard config defaults` prints one); flags given on the command line win")
	f.StringVar(&state, "state", "", "state file keeping lists and bans across restarts and reboots (none if empty)")
	f.StringVar(&onStop, "on-stop", string(config.KeepRules), "on stop, keep the ruleset and bans in force (keep) or remove them (remove)")
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

// parseInterfacePrefixes reads interface addresses, where host bits are the
// point: 192.0.2.2/24.
func parseInterfacePrefixes(in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("--mgmt-addr: %q is not an address with prefix length, e.g. 192.0.2.2/24", s)
		}
		out = append(out, p)
	}
	return out, nil
}

// overrideChanged returns the file's configuration with the settings of
// the flags given on the command line taken from flags.
func overrideChanged(cmd *cobra.Command, file, flags daemon.Config) daemon.Config {
	changed := cmd.Flags().Changed
	anyChanged := func(names ...string) bool { return slices.ContainsFunc(names, changed) }
	out := file
	if anyChanged("bridge") {
		out.Bridge.Name = flags.Bridge.Name
	}
	if anyChanged("board") {
		out.Board = flags.Board
	}
	if anyChanged("leds") {
		out.LEDs = flags.LEDs
	}
	if anyChanged("no-feeds") && flags.Feeds == nil { // --no-feeds: none, whatever the file says
		out.Feeds = nil
	}
	if anyChanged("wan") {
		out.Bridge.WAN, out.Rules.WAN = flags.Bridge.WAN, flags.Rules.WAN
	}
	if anyChanged("lan") {
		out.Bridge.LAN = flags.Bridge.LAN
	}
	if anyChanged("mgmt-addr", "mgmt-dhcp", "mgmt-gw4", "mgmt-gw6") {
		out.Bridge.Mgmt = flags.Bridge.Mgmt
	}
	r, fr := &out.Rules, flags.Rules
	for _, o := range []struct {
		flag string
		do   func()
	}{
		{"admin", func() { r.Admin = fr.Admin }},
		{"allow", func() { r.Allow = fr.Allow }},
		{"deny", func() { r.Deny = fr.Deny }},
		{"sip-ports", func() { r.SIPPorts = fr.SIPPorts }},
		{"no-sip-udp", func() { r.SIPUDP = fr.SIPUDP }},
		{"no-sip-tcp", func() { r.SIPTCP = fr.SIPTCP }},
		{"trusted-sip", func() { r.TrustedSIP = fr.TrustedSIP }},
		{"restrict-tcp", func() { r.RestrictedTCP = fr.RestrictedTCP }},
		{"tftp-rate", func() { r.TFTP = fr.TFTP }},
		{"tftp-burst", func() { r.TFTP = fr.TFTP }},
		{"no-tftp-limit", func() { r.TFTP = fr.TFTP }},
		{"no-dns-guard", func() { r.DNSGuard = fr.DNSGuard }},
		{"ban-prefix6", func() { r.BanPrefix6, out.SIP.Prefix6 = fr.BanPrefix6, flags.SIP.Prefix6 }},
		{"register-limit", func() { out.SIP.RegisterLimit = flags.SIP.RegisterLimit }},
		{"invite-limit", func() { out.SIP.InviteLimit = flags.SIP.InviteLimit }},
		{"invite-block-time", func() { out.SIP.InviteBlockTime = flags.SIP.InviteBlockTime }},
		{"hourly-limit", func() { out.SIP.HourlyLimit = flags.SIP.HourlyLimit }},
		{"flood-rate", func() { out.SIP.FloodRate = flags.SIP.FloodRate }},
		{"block-time", func() { out.SIP.BlockTime = flags.SIP.BlockTime }},
		{"block-threshold", func() { out.SIP.BlockThreshold = flags.SIP.BlockThreshold }},
		{"scanner-agents", func() { out.SIP.ScannerAgents = flags.SIP.ScannerAgents }},
		{"trust-window", func() { out.SIP.TrustWindow = flags.SIP.TrustWindow }},
		{"trusted-failures", func() { out.SIP.TrustedFailures = flags.SIP.TrustedFailures }},
		{"state", func() { out.State = flags.State }},
		{"on-stop", func() { out.OnStop = flags.OnStop }},
	} {
		if changed(o.flag) {
			o.do()
		}
	}
	return out
}
