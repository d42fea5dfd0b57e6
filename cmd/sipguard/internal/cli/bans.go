package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter"
)

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
		Use:   "ban ADDRESS|NETWORK...",
		Short: "Ban addresses or networks now (dynamic bans, one batch)",
		Long: `Ban addresses or networks now, in the kernel: their traffic toward the
office is dropped until the ban expires. A ban covers the address's whole
ban prefix (sip.prefix4, an IPv4 address by default; sip.prefix6, a /64 by
default); a network wider than that is banned whole. Banning again
restarts the ban.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefixes, err := parseBanPrefixes(args)
			if err != nil {
				return err
			}
			bans := make([]netfilter.Ban, len(prefixes))
			for i, p := range prefixes {
				bans[i] = netfilter.BanOf(p, d)
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

// parseBanPrefixes reads addresses and networks (CIDR, no host bits).
func parseBanPrefixes(args []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(args))
	for _, s := range args {
		p, err := netfilter.ParsePrefix(s)
		if err != nil {
			return nil, usageError{fmt.Errorf("%q is not an IP address or network: %v", s, err)}
		}
		out = append(out, p)
	}
	return out, nil
}

func unbanCmd(_ Env, dc *daemonConn) *cobra.Command {
	var (
		permanent bool
		stateFile string
	)
	cmd := &cobra.Command{
		Use:     "unban ADDRESS|NETWORK...",
		Aliases: []string{"unblock"},
		Short:   "Lift dynamic bans, or with --permanent permanent ones (alias: unblock)",
		Long: `Lift the bans of addresses or networks. Through the running daemon, the
detection and the state file forget them too, so they do not come back on
a restart; with no daemon running, only the kernel's bans are lifted.

A permanent ban is lifted with --permanent only: from the kernel, from the
state file, and with it the source's ban history, so that its next
dynamic ban counts from one again; the attack log records it. With no
daemon running, --state names the state file to lift it from.

An address that is not banned is reported; the others are lifted all the
same.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefixes, err := parseBanPrefixes(args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			r, err := dc.client().Unban(cmd.Context(), args, permanent)
			if errors.Is(err, api.ErrNoDaemon) {
				if permanent {
					if r, err = liftPermanentHere(prefixes, stateFile); err != nil {
						return err
					}
					writeUnban(out, r, true)
					fmt.Fprintln(out, "(no daemon running: lifted in the kernel and the state file)")
					return nil
				}
				if _, err := withFirewall(func(fw *netfilter.Firewall) (any, error) { return nil, fw.Unban(prefixes) }); err != nil {
					return err
				}
				fmt.Fprintf(out, "unbanned %d in the kernel (no daemon running)\n", len(prefixes))
				return nil
			}
			if err != nil {
				return err
			}
			writeUnban(out, r, permanent)
			return nil
		},
	}
	cmd.Flags().BoolVar(&permanent, "permanent", false, "lift permanent bans (and the sources' ban history)")
	cmd.Flags().StringVar(&stateFile, "state", "", "with --permanent and no daemon running: the daemon's state file")
	return cmd
}

// writeUnban prints what an unban did.
func writeUnban(w io.Writer, r api.UnbanResponse, permanent bool) {
	if permanent {
		for _, p := range r.Lifted {
			fmt.Fprintf(w, "permanent ban lifted: %s\n", p)
		}
	}
	for _, a := range r.NotBanned {
		kind := "not banned"
		if permanent {
			kind = "not banned permanently"
		}
		fmt.Fprintf(w, "%s: %s\n", a, kind)
	}
	fmt.Fprintf(w, "unbanned %d\n", r.Unbanned)
}

// liftPermanentHere lifts permanent bans with no daemon running: from the
// kernel's permanent list, then from the state file, which forgets the
// sources' ban history and logs the lift.
func liftPermanentHere(prefixes []netip.Prefix, path string) (api.UnbanResponse, error) {
	var out api.UnbanResponse
	if path == "" {
		return out, usageError{errors.New("no daemon running: give --state FILE, the state file the daemon keeps its bans in")}
	}
	if _, err := os.Stat(path); err != nil {
		return out, fmt.Errorf("state file: %w", err)
	}
	st, err := store.Open(path, store.Limits{})
	if err != nil {
		return out, err
	}
	defer st.Close()
	perms, err := st.Permanents()
	if err != nil {
		return out, err
	}
	var (
		lifted []netip.Prefix
		evs    []store.Event
	)
	now := time.Now()
	for _, p := range prefixes {
		found := false
		for _, q := range perms {
			if !q.Prefix.Overlaps(p) {
				continue
			}
			found = true
			if !slices.Contains(lifted, q.Prefix) {
				lifted = append(lifted, q.Prefix)
				out.Lifted = append(out.Lifted, q.Prefix.String())
			}
			evs = append(evs, store.Event{Time: now, Action: store.ActionUnban, Source: q.Prefix, Addr: p.Addr()})
		}
		if !found {
			out.NotBanned = append(out.NotBanned, p.String())
			continue
		}
		out.Unbanned++
	}
	if len(lifted) == 0 {
		return out, nil
	}
	_, err = withFirewall(func(fw *netfilter.Firewall) (any, error) { return nil, fw.RemovePermanent(lifted) })
	if err != nil && !errors.Is(err, netfilter.ErrNoRuleset) {
		return api.UnbanResponse{}, err
	}
	if _, err := st.LiftPermanent(lifted, evs); err != nil {
		return out, fmt.Errorf("lifted in the kernel, but the state file keeps them: %w", err)
	}
	return out, nil
}

func bansCmd(_ Env, dc *daemonConn) *cobra.Command {
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
			bans, err := readBans(cmd.Context(), dc.client())
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
func readBans(ctx context.Context, c api.Client) (api.Bans, error) {
	bans, err := c.Bans(ctx)
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
