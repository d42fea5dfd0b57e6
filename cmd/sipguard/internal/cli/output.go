package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// jsonFlag adds --json to a command that prints data.
func jsonFlag(cmd *cobra.Command) *bool {
	return cmd.Flags().Bool("json", false, "print JSON, for scripts")
}

// writeJSON prints v as one JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// columns is a tabwriter for the command line's plain tables.
func columns(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// writeEntries prints an allow or deny list.
func writeEntries(w io.Writer, entries []api.Entry) error {
	tw := columns(w)
	fmt.Fprintln(tw, "ADDRESS\tNOTE\tADDED\tBY")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Prefix, e.Note, e.Added.Format("2006-01-02 15:04"), e.By)
	}
	return tw.Flush()
}

// writeBans prints the dynamic list: the permanent bans, then the
// temporary ones with their time left.
func writeBans(w io.Writer, bans api.Bans) error {
	tw := columns(w)
	fmt.Fprintln(tw, "BANNED\tREASON\tUSER-AGENT\tCOUNTRY\tTIME LEFT")
	for _, b := range bans.Permanent {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tpermanent\n", b.Source, b.Reason, b.UserAgent, b.Country)
	}
	for _, b := range bans.Temporary {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", b.Source, b.Reason, b.UserAgent, b.Country, b.Expires.Round(time.Second))
	}
	return tw.Flush()
}
