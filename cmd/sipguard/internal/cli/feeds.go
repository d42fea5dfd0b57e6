package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"
)

func feedsCmd(_ Env, dc *daemonConn) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "feeds",
		Short: "The global blocklists the kernel drops (VoIPBL, FireHOL level1, Spamhaus DROP, APIBAN, your own)",
	}
	asJSON := cmd.PersistentFlags().Bool("json", false, "print JSON, for scripts")
	show := func(cmd *cobra.Command, st []feeds.Status) error {
		if *asJSON {
			return writeJSON(cmd.OutOrStdout(), st)
		}
		return printFeeds(cmd.OutOrStdout(), st)
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show each feed: entries, last refresh, last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := dc.client().Feeds(cmd.Context())
			if err != nil {
				return err
			}
			return show(cmd, st)
		},
	}, &cobra.Command{
		Use:   "refresh [NAME]",
		Short: "Refresh one feed, or every enabled one, now; a failed refresh keeps what was loaded",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			st, err := dc.client().RefreshFeeds(cmd.Context(), name)
			if st != nil {
				if perr := show(cmd, st); perr != nil {
					return perr
				}
			}
			return err
		},
	})
	return cmd
}

func printFeeds(w io.Writer, st []feeds.Status) error {
	rows := make([][]string, 0, len(st))
	for _, s := range st {
		state := "on"
		if !s.Enabled {
			state = "off"
		}
		last := "-"
		if !s.LastSuccess.IsZero() {
			last = s.LastSuccess.Format("2006-01-02 15:04")
		}
		rows = append(rows, []string{s.Name, state, fmt.Sprint(s.V4), fmt.Sprint(s.V6), last, s.LastError})
	}
	writeTable(w, []string{"FEED", "STATE", "IPV4", "IPV6", "LAST REFRESH", "LAST ERROR"}, rows)
	return nil
}
