package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/dashboard"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// The configuration file and the attack log's feed, as the API serves
// them to the dashboard and the remote command line.
var (
	_ api.ConfigBackend = (*backend)(nil)
	_ api.EventsBackend = (*backend)(nil)
	// The dashboard's pages take the daemon's backend as it is.
	_ dashboard.Backend = (*backend)(nil)
)

// Config implements api.ConfigBackend.
func (b *backend) Config(context.Context) (api.Config, error) {
	if b.configFile == "" {
		return api.Config{}, errNoConfig
	}
	data, err := os.ReadFile(b.configFile)
	if err != nil {
		return api.Config{}, fmt.Errorf("configuration: %w", err)
	}
	out := api.Config{File: b.configFile, Text: string(data)}
	for _, k := range config.Keys() {
		s, err := config.Lookup(k)
		if err != nil {
			return api.Config{}, err
		}
		v, err := config.Value(data, k)
		if err != nil {
			return api.Config{}, fmt.Errorf("%s: %w", b.configFile, err)
		}
		out.Keys = append(out.Keys, api.ConfigKey{Key: k, Kind: s.Kind, Default: s.Default, Value: v})
	}
	return out, nil
}

// SetConfig implements api.ConfigBackend as sipguard config set does, for
// several keys at once: the changes are made with config.Apply and the
// whole result checked; refused, the file is not touched. Accepted, it is
// replaced atomically (mode 0600) and the daemon reloads it; a setting
// that changes only with a restart is written and said not applied.
func (b *backend) SetConfig(ctx context.Context, changes []api.ConfigChange) (api.ConfigResult, error) {
	if b.configFile == "" {
		return api.ConfigResult{}, errNoConfig
	}
	b.configMu.Lock()
	defer b.configMu.Unlock()
	data, err := os.ReadFile(b.configFile)
	if err != nil {
		return api.ConfigResult{}, fmt.Errorf("configuration: %w", err)
	}
	cs := make([]config.Change, len(changes))
	for i, c := range changes {
		cs[i] = config.Change{Key: c.Key, Value: c.Value}
	}
	edited, err := config.Apply(data, cs...)
	if err != nil {
		return api.ConfigResult{}, api.ConfigErrorOf(err)
	}
	if err := config.WriteFile(b.configFile, edited); err != nil {
		return api.ConfigResult{}, err
	}
	out := api.ConfigResult{Changed: len(changes), Applied: true}
	if err := b.Reload(ctx); err != nil {
		out.Applied, out.NotApplied = false, err.Error()
	}
	return out, nil
}

// Events implements api.EventsBackend.
func (b *backend) Events(_ context.Context, q api.EventsQuery) ([]api.Event, error) {
	if b.state == nil {
		return nil, errNoState
	}
	logged, err := b.state.EventsAfter(q.After, q.Limit)
	if errors.Is(err, store.ErrInvalid) {
		err = fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	out := make([]api.Event, len(logged))
	for i, l := range logged {
		out[i] = eventOf(l)
	}
	return out, err
}

// eventOf converts an attack log event to the API's.
func eventOf(l store.Logged) api.Event {
	e := api.Event{ID: l.ID, Time: l.Time, Action: l.Action, Source: show(l.Source), Reason: l.Reason, Count: l.Count,
		UserAgent: l.UserAgent, Extension: l.Extension, Dialled: l.Dialled, Country: l.Country}
	if l.Addr.IsValid() {
		e.Addr = l.Addr.String()
	}
	return e
}

// Activity implements api.EventsBackend: the hours from the attack log,
// the days from the daily counters, which outlive the log's events.
func (b *backend) Activity(_ context.Context, step string) (api.Activity, error) {
	if b.state == nil {
		return api.Activity{}, errNoState
	}
	return activity(b.state, step, time.Now())
}

// activity counts the events by hour over the 24 hours up to now, or by
// day over the 7 days up to today.
func activity(st *store.Store, step string, now time.Time) (api.Activity, error) {
	out := api.Activity{Step: step}
	days, tallies, err := st.Daily(now, 7)
	if err != nil {
		return out, err
	}
	out.Today = bucketOf(tallies[len(tallies)-1], time.Time{}, days[len(days)-1])
	if step == api.StepDay {
		for i, t := range tallies {
			start, _, err := st.Day(days[i])
			if err != nil {
				return out, err
			}
			out.Buckets = append(out.Buckets, bucketOf(t, start, days[i]))
		}
		return out, nil
	}
	from := now.Truncate(time.Hour).Add(-23 * time.Hour)
	hours, err := st.Periods(from, time.Hour, 24)
	if err != nil {
		return out, err
	}
	for i, t := range hours {
		start := from.Add(time.Duration(i) * time.Hour)
		out.Buckets = append(out.Buckets, bucketOf(t, start, start.Local().Format("15:04")))
	}
	return out, nil
}

func bucketOf(t store.Tally, start time.Time, label string) api.Bucket {
	return api.Bucket{Start: start, Label: label, Events: t.Events, Bans: t.Bans, Permanent: t.Permanent, Alerts: t.Alerts}
}
