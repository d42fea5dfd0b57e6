package cli

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

func checkCmd(_ Env, dc *daemonConn) *cobra.Command {
	var asJSON *bool
	cmd := &cobra.Command{
		Use:   "check ADDRESS",
		Short: "Say which lists hold an address (allow, deny, permanent, dynamic), and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a, err := netip.ParseAddr(args[0]); err != nil || a.Zone() != "" {
				return usageError{fmt.Errorf("%q is not an IP address", args[0])}
			}
			c, err := dc.client().Check(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if *asJSON {
				return writeJSON(out, c)
			}
			none := true
			for _, l := range []struct {
				name    string
				entries []api.Entry
			}{{"allow", c.Allow}, {"deny", c.Deny}} {
				for _, e := range l.entries {
					none = false
					fmt.Fprintf(out, "%s: on the %s list as %s", c.Address, l.name, e.Prefix)
					if e.Note != "" {
						fmt.Fprintf(out, " (%s)", e.Note)
					}
					fmt.Fprintln(out)
				}
			}
			if p := c.Permanent; p != nil {
				none = false
				fmt.Fprintf(out, "%s: banned permanently as %s since %s: %s\n", c.Address, p.Source, p.At.Format("2006-01-02 15:04"), p.Reason)
			}
			if d := c.Dynamic; d != nil {
				none = false
				fmt.Fprintf(out, "%s: banned as %s, %v left\n", c.Address, d.Source, d.Expires.Round(time.Second))
			}
			if none {
				fmt.Fprintf(out, "%s: on no list\n", c.Address)
			}
			if c.Country != "" {
				fmt.Fprintf(out, "%s: country %s\n", c.Address, c.Country)
			}
			return nil
		},
	}
	asJSON = jsonFlag(cmd)
	return cmd
}
