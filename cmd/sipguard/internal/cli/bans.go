package cli

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
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
		Use:   "unban ADDRESS...",
		Short: "Lift dynamic bans",
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

func bansCmd(Env) *cobra.Command {
	return &cobra.Command{
		Use:   "bans",
		Short: "List the dynamic bans in force",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bans, err := withFirewall((*netfilter.Firewall).Bans)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "BANNED\tEXPIRES IN")
			for _, b := range bans {
				fmt.Fprintf(w, "%v\t%v\n", b.Prefix, b.Expires.Round(time.Second))
			}
			return w.Flush()
		},
	}
}

func statusCmd(_ Env, socket *string) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Print how many addresses each list holds, and what was dropped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := api.Client{Socket: *socket}.Status(cmd.Context())
			if errors.Is(err, api.ErrNoDaemon) {
				st, err = kernelStatus()
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			total := func(name string) string { return fmt.Sprint(st.Lists[name].IPv4 + st.Lists[name].IPv6) }
			writeTable(out, []string{"LIST", "NUM OF IPS"}, [][]string{
				{"Allow", total("allow")},
				{"Deny", total("deny")},
				{"Dynamic (permanent)", total("permanent")},
				{"Dynamic (temporary)", total("dynamic")},
				{"Countries (ranges)", total("countries")},
				{"Feeds (ranges)", total("feeds")},
			})
			var rows [][]string
			for _, name := range netfilter.Counters {
				rows = append(rows, []string{name, fmt.Sprint(st.Counters[name])})
			}
			writeTable(out, []string{"RULE (accepted or dropped)", "PACKETS"}, rows)
			if len(st.Inspection) > 0 {
				rows = nil
				for _, name := range slices.Sorted(maps.Keys(st.Inspection)) {
					rows = append(rows, []string{name, fmt.Sprint(st.Inspection[name])})
				}
				rows = append(rows, []string{"sources tracked", fmt.Sprint(st.Sources)})
				writeTable(out, []string{"SIP INSPECTION", "COUNT"}, rows)
			}
			return nil
		},
	}
}

// kernelStatus reads the status from the kernel alone, when no daemon runs.
func kernelStatus() (api.Status, error) {
	st, err := withFirewall((*netfilter.Firewall).Stats)
	if err != nil {
		return api.Status{}, err
	}
	return api.StatusOf(st), nil
}

// writeTable prints rows in sipPROT's boxed table style: the first column
// left-aligned, the others right-aligned.
func writeTable(w interface{ Write([]byte) (int, error) }, head []string, rows [][]string) {
	width := make([]int, len(head))
	for _, r := range append([][]string{head}, rows...) {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	line := "+"
	for _, n := range width {
		line += strings.Repeat("-", n+2) + "+"
	}
	row := func(r []string, center bool) {
		s := "|"
		for i, c := range r {
			pad := width[i] - len(c)
			switch {
			case center:
				s += " " + strings.Repeat(" ", pad/2) + c + strings.Repeat(" ", pad-pad/2) + " |"
			case i == 0:
				s += " " + c + strings.Repeat(" ", pad) + " |"
			default:
				s += " " + strings.Repeat(" ", pad) + c + " |"
			}
		}
		fmt.Fprintln(w, s)
	}
	fmt.Fprintln(w, line)
	row(head, true)
	fmt.Fprintln(w, line)
	for _, r := range rows {
		row(r, false)
		fmt.Fprintln(w, line)
	}
}
