package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
)

func configCmd(Env) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check the configuration file, or print the defaults"}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate FILE",
		Short: "Check a configuration file: every problem, with its key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := config.Load(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", args[0])
			return nil
		},
	}, &cobra.Command{
		Use:   "defaults",
		Short: "Print a configuration file with every key at its default, commented",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(config.Default())
			return err
		},
	})
	return cmd
}
