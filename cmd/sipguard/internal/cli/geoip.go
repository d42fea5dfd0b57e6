package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

func geoipCmd(_ Env, dc *daemonConn) *cobra.Command {
	var asJSON *bool
	show := func(cmd *cobra.Command, g api.GeoIP) error {
		if *asJSON {
			return writeJSON(cmd.OutOrStdout(), g)
		}
		printGeoIP(cmd.OutOrStdout(), g)
		return nil
	}
	cmd := &cobra.Command{
		Use:   "geoip",
		Short: "The country database and the country filter",
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the country database in use, its updates and the country filter",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := dc.client().GeoIP(cmd.Context())
			if err != nil {
				return err
			}
			return show(cmd, g)
		},
	}
	update := &cobra.Command{
		Use:   "update",
		Short: "Look for a new country database now; a bad download changes nothing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := dc.client().UpdateGeoIP(cmd.Context())
			if err != nil {
				return err
			}
			return show(cmd, g)
		},
	}
	asJSON = cmd.PersistentFlags().Bool("json", false, "print JSON, for scripts")
	cmd.AddCommand(status, update)
	return cmd
}

func printGeoIP(w io.Writer, g api.GeoIP) {
	fmt.Fprintf(w, "filter:    %s", g.Mode)
	if len(g.Countries) > 0 {
		fmt.Fprintf(w, " %s (%d networks in the kernel)", strings.Join(g.Countries, ", "), g.Prefixes)
	}
	fmt.Fprintln(w)
	if d := g.Database; d != nil {
		fmt.Fprintf(w, "database:  %s, built %s\n", d.Type, d.Built.Format(time.DateOnly))
	} else {
		fmt.Fprintln(w, "database:  none (geoip.database)")
	}
	if u := g.Update; u != nil {
		fmt.Fprintf(w, "updates:   %s", u.Source)
		if !u.LastSuccess.IsZero() {
			fmt.Fprintf(w, ", last success %s", u.LastSuccess.Format("2006-01-02 15:04"))
		}
		if u.LastError != "" {
			fmt.Fprintf(w, ", last error: %s", u.LastError)
		}
		fmt.Fprintln(w)
	}
}
