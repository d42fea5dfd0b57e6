package cli

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/netfilter"
)

func parseAddrs(args []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(args))
	for _, s := range args {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, usageError{fmt.Errorf("%q is not an IP address", s)}
		}
		out = append(out, a)
	}
	return out, nil
}

// withFirewall opens the kernel's firewall in this network namespace, calls
// fn and closes it again.
func withFirewall[T any](fn func(*netfilter.Firewall) (T, error)) (T, error) {
	fw, err := netfilter.Open()
	if err != nil {
		var zero T
		return zero, err
	}
	defer fw.Close()
	return fn(fw)
}

func banCmd(Env) *cobra.Command {
	var d time.Duration
	cmd := &cobra.Command{
		Use:   "ban ADDRESS...",
		Short: "Ban addresses now (dynamic bans, one batch)",
		Long: `Ban addresses now, in the kernel: their traffic toward the office is
dropped until the ban expires. An IPv6 ban covers the address's whole ban
prefix (a /64 by default). Banning an address again restarts its ban.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addrs, err := parseAddrs(args)
			if err != nil {
				return err
			}
			bans := make([]netfilter.Ban, len(addrs))
			for i, a := range addrs {
				bans[i] = netfilter.Ban{Addr: a, Timeout: d}
			}
			if _, err := withFirewall(func(fw *netfilter.Firewall) (any, error) { return nil, fw.Ban(bans) }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "banned %d for %v\n", len(bans), d)
			return nil
		},
	}
	cmd.Flags().DurationVar(&d, "for", 10*time.Minute, "how long the ban lasts")
	return cmd
}

func unbanCmd(_ Env, socket *string) *cobra.Command {
	return &cobra.Command{
		Use:     "unban ADDRESS...",
		Aliases: []string{"unblock"},
		Short:   "Lift dynamic bans (alias: unblock)",
		Long: `Lift dynamic bans. Through the running daemon, the detection and the state
file forget them too, so they do not come back on a restart; with no daemon
running, only the kernel's bans are lifted.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addrs, err := parseAddrs(args)
			if err != nil {
				return err
			}
			n, err := api.Client{Socket: *socket}.Unban(cmd.Context(), args)
			if errors.Is(err, api.ErrNoDaemon) {
				if _, err := withFirewall(func(fw *netfilter.Firewall) (any, error) { return nil, fw.Unban(addrs) }); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "unbanned %d in the kernel (no daemon running)\n", len(addrs))
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "unbanned %d\n", n)
			return nil
		},
	}
}

func bansCmd(_ Env, socket *string) *cobra.Command {
	var asJSON *bool
	cmd := &cobra.Command{
		Use:   "bans",
		Short: "List the bans in force: permanent, then temporary with their time left",
		Long: `List the bans in force: the permanent ones, then the temporary ones with
their time left. Through the running daemon each ban shows its reason and
the attacker's User-Agent; with no daemon running, the kernel's temporary
bans are listed with their time left only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bans, err := readBans(cmd.Context(), *socket)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(cmd.OutOrStdout(), bans)
			}
			return writeBans(cmd.OutOrStdout(), bans)
		},
	}
	asJSON = jsonFlag(cmd)
	return cmd
}

// readBans reads the bans in force through the daemon, or from the kernel
// (temporary bans, without their reasons) when no daemon runs.
func readBans(ctx context.Context, socket string) (api.Bans, error) {
	bans, err := api.Client{Socket: socket}.Bans(ctx)
	if !errors.Is(err, api.ErrNoDaemon) {
		return bans, err
	}
	inKernel, err := withFirewall((*netfilter.Firewall).Bans)
	if err != nil {
		return api.Bans{}, err
	}
	bans = api.Bans{Permanent: []api.Ban{}, Temporary: make([]api.Ban, 0, len(inKernel))}
	for _, b := range inKernel {
		bans.Temporary = append(bans.Temporary, api.Ban{Source: b.Prefix.String(), Expires: b.Expires})
	}
	return bans, nil
}
