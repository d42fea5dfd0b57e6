package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// followEvery is how often events --follow asks for new events.
const followEvery = 2 * time.Second

func eventsCmd(_ Env, dc *daemonConn) *cobra.Command {
	var (
		limit  int
		follow bool
		asJSON *bool
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the attack log's latest bans and alerts; with --follow, new ones as they come",
		Long: `Print the latest events of the attack log, oldest first: bans, permanent
bans, alerts and permanent bans lifted by hand, with the source, reason,
country, User-Agent and extension. With --follow, keep printing new events
as they are logged, until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > api.MaxEvents {
				return usageError{fmt.Errorf("--limit %d: want 1 to %d", limit, api.MaxEvents)}
			}
			c := dc.client()
			evs, err := c.Events(cmd.Context(), api.EventsQuery{Limit: limit})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			print := func(evs []api.Event) error {
				slices.Reverse(evs) // oldest first, as a log reads
				if *asJSON {
					for _, e := range evs {
						if err := writeJSON(w, e); err != nil {
							return err
						}
					}
					return nil
				}
				return writeEvents(w, evs)
			}
			if err := print(slices.Clone(evs)); err != nil || !follow {
				return err
			}
			last := ""
			if len(evs) > 0 {
				last = evs[0].ID
			}
			return followEvents(cmd.Context(), c, last, print)
		},
	}
	f := cmd.Flags()
	f.IntVar(&limit, "limit", 20, "how many of the latest events to print")
	f.BoolVar(&follow, "follow", false, "keep printing new events as they are logged")
	asJSON = jsonFlag(cmd)
	return cmd
}

// followEvents prints the events logged after last, every few seconds,
// until ctx ends.
func followEvents(ctx context.Context, c api.Client, last string, print func([]api.Event) error) error {
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		evs, err := c.Events(ctx, api.EventsQuery{After: last, Limit: api.MaxEvents})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			continue
		}
		last = evs[0].ID
		if err := print(evs); err != nil {
			return err
		}
	}
}

// writeEvents prints events one a line.
func writeEvents(w io.Writer, evs []api.Event) error {
	tw := columns(w)
	for _, e := range evs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Action, e.Source,
			dash(e.Reason), dash(e.Country), dash(e.UserAgent), dash(e.Extension))
	}
	return tw.Flush()
}

// dash writes an empty field as "-", so that columns stay in place.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
