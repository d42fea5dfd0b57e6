package cli

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/netfilter"
)

// listCmd manages the allow or deny list through the daemon.
func listCmd(list, short string, dc *daemonConn) *cobra.Command {
	client := dc.client
	cmd := &cobra.Command{Use: list, Short: short}

	var note string
	add := &cobra.Command{
		Use:   "add ADDRESS|NETWORK...",
		Short: "Add addresses or networks (all or none)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries := make([]api.Entry, len(args))
			for i, a := range args {
				p, err := netfilter.ParsePrefix(a)
				if err != nil {
					return usageError{err}
				}
				entries[i] = api.Entry{Prefix: p.String(), Note: note, By: "cli"}
			}
			n, err := client().Add(cmd.Context(), list, entries)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %d to the %s list\n", n, list)
			return nil
		},
	}
	add.Flags().StringVar(&note, "note", "", "why the entry is there")

	var all, yes bool
	del := &cobra.Command{
		Use:   "del ADDRESS|NETWORK... | --all --yes",
		Short: "Remove entries, or all of them",
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return usageError{errors.New("--all takes no addresses")}
			case all && !yes:
				return usageError{fmt.Errorf("--all empties the %s list: confirm with --yes", list)}
			case !all && len(args) == 0:
				return usageError{errors.New("give addresses or networks, or --all --yes")}
			}
			for _, a := range args {
				if _, err := netfilter.ParsePrefix(a); err != nil {
					return usageError{err}
				}
			}
			n, err := client().Remove(cmd.Context(), list, args, all)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d from the %s list\n", n, list)
			return nil
		},
	}
	del.Flags().BoolVar(&all, "all", false, "remove every entry")
	del.Flags().BoolVar(&yes, "yes", false, "confirm --all")

	var asJSON *bool
	show := &cobra.Command{
		Use:   "list",
		Short: "Print the list",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, err := client().List(cmd.Context(), list)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(cmd.OutOrStdout(), entries)
			}
			return writeEntries(cmd.OutOrStdout(), entries)
		},
	}
	asJSON = jsonFlag(show)

	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Add the entries of a CSV file (address,note) or a sipPROT list file; all or none",
		Long: `Add the entries of a file: CSV with the address or network first and an
optional note second, or a sipPROT list file (one address per line). Lines
starting with # and blank lines are skipped. If one line is bad, nothing is
added and the line is named.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			entries, err := readEntries(f)
			if err != nil {
				return fmt.Errorf("%s: %w (nothing was added)", args[0], err)
			}
			n, err := client().Add(cmd.Context(), list, entries)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d into the %s list\n", n, list)
			return nil
		},
	}
	exp := &cobra.Command{
		Use:   "export",
		Short: "Print the list as CSV (address,note,added,by)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, err := client().List(cmd.Context(), list)
			if err != nil {
				return err
			}
			w := csv.NewWriter(cmd.OutOrStdout())
			for _, e := range entries {
				if err := w.Write([]string{e.Prefix, e.Note, e.Added.Format("2006-01-02T15:04:05Z07:00"), e.By}); err != nil {
					return err
				}
			}
			w.Flush()
			return w.Error()
		},
	}
	cmd.AddCommand(add, del, show, imp, exp)
	return cmd
}

// readEntries reads a CSV or sipPROT list file, refusing it whole if a
// line is bad.
func readEntries(r io.Reader) ([]api.Entry, error) { return api.ReadEntries(r, "import") }
