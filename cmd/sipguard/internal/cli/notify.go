package cli

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func notifyCmd(_ Env, dc *daemonConn) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Mail and webhook notifications: alerts and the daily summary",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show the notifications: per channel, messages sent, queued, retried, the last error (JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := dc.client().NotifyStatus(cmd.Context())
			if err != nil {
				return err
			}
			var out bytes.Buffer
			if err := json.Indent(&out, st, "", "  "); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.String())
			return nil
		},
	}, &cobra.Command{
		Use:   "test",
		Short: "Send a test message through every configured channel, now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := dc.client().TestNotify(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "test message sent")
			return nil
		},
	})
	return cmd
}
