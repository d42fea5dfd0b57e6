package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

func reportCmd(_ Env, dc *daemonConn) *cobra.Command {
	var q api.ReportQuery
	var asJSON *bool
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Print the daily attack report: attacks by reason, bans, top sources, User-Agents and extensions",
		Long: `Print the attack report of a day (today unless --day says which) or of
the time since --since ago: how many attacks by reason, the bans made,
and the sources, User-Agents and extensions seen most, then the office's
outbound calls of the last hour per extension. It is read from
the attack log in the daemon's state file; a past day's counts stay right
after its events have aged out of the log (its top lists then cover the
events left, and the report says so).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case q.Day != "" && q.Since != 0:
				return usageError{errors.New("give --day or --since, not both")}
			case q.Since < 0:
				return usageError{fmt.Errorf("--since %v: want a positive duration", q.Since)}
			case q.Top < 1:
				return usageError{fmt.Errorf("--top %d: want at least 1", q.Top)}
			}
			if q.Day != "" {
				if _, err := time.Parse(time.DateOnly, q.Day); err != nil {
					return usageError{fmt.Errorf("--day %q: want a date like 2026-11-25", q.Day)}
				}
			}
			r, err := dc.client().Report(cmd.Context(), q)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			writeReport(cmd.OutOrStdout(), r, q)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Day, "day", "", "the day to report, YYYY-MM-DD (default today)")
	f.DurationVar(&q.Since, "since", 0, "report the time since this long ago instead, e.g. 90m or 48h")
	f.IntVar(&q.Top, "top", api.DefaultTop, "how many sources, User-Agents, extensions and calling extensions to list")
	asJSON = jsonFlag(cmd)
	return cmd
}

// writeReport prints a report as sipPROT-style tables.
func writeReport(w io.Writer, r api.Report, q api.ReportQuery) {
	const stamp = "2006-01-02 15:04"
	if q.Since != 0 {
		fmt.Fprintf(w, "Attack report since %s (the last %v)\n", r.From.Format(stamp), q.Since)
	} else {
		fmt.Fprintf(w, "Attack report of %s\n", r.From.Format(time.DateOnly))
	}
	attacks := 0
	for _, n := range r.Attacks {
		attacks += n
	}
	writeTable(w, []string{"SUMMARY", "COUNT"}, [][]string{
		{"Attacks", fmt.Sprint(attacks)},
		{"Bans (temporary)", fmt.Sprint(r.Bans)},
		{"Bans (permanent)", fmt.Sprint(r.Permanent)},
		{"Alerts", fmt.Sprint(r.Alerts)},
	})
	if len(r.Attacks) > 0 {
		reasons := slices.SortedFunc(maps.Keys(r.Attacks), func(a, b string) int {
			return cmp.Or(cmp.Compare(r.Attacks[b], r.Attacks[a]), cmp.Compare(a, b))
		})
		rows := make([][]string, 0, len(reasons))
		for _, reason := range reasons {
			rows = append(rows, []string{reason, fmt.Sprint(r.Attacks[reason])})
		}
		writeTable(w, []string{"ATTACKS BY REASON", "COUNT"}, rows)
	}
	for _, top := range []struct {
		head    []string
		counts  []api.Count
		country bool
	}{
		{[]string{"TOP SOURCES", "ATTACKS", "COUNTRY"}, r.TopSources, true},
		{[]string{"TOP USER-AGENTS", "ATTACKS"}, r.TopUserAgents, false},
		{[]string{"TOP EXTENSIONS TRIED", "ATTACKS"}, r.TopExtensions, false},
	} {
		if len(top.counts) == 0 {
			continue
		}
		rows := make([][]string, 0, len(top.counts))
		for _, c := range top.counts {
			row := []string{c.Value, fmt.Sprint(c.Count)}
			if top.country {
				row = append(row, c.Country)
			}
			rows = append(rows, row)
		}
		writeTable(w, top.head, rows)
	}
	if len(r.Outbound) > 0 {
		fmt.Fprintln(w, "Outbound calls in the last hour, per extension (toll-fraud watch):")
		rows := make([][]string, 0, len(r.Outbound))
		for _, o := range r.Outbound {
			rows = append(rows, []string{cmp.Or(o.Extension, "-"), fmt.Sprint(o.Calls), fmt.Sprint(o.HighRisk), fmt.Sprint(o.OffHours),
				o.LastDialled, o.LastCall.Local().Format(stamp)})
		}
		writeTable(w, []string{"EXTENSION", "CALLS", "HIGH-RISK", "OFF-HOURS", "LAST DIALLED", "LAST CALL"}, rows)
	}
	if r.Partial {
		fmt.Fprintln(w, "Part of this period's events have aged out of the attack log: the counts come from the daily counters, the top lists from the events left.")
	}
}
