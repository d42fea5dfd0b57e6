package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/tollfraud"
)

// Bans lists the bans in force: the permanent ones from the state file,
// the temporary ones from the kernel (their time left) with the reason the
// state file keeps for each.
func (b *backend) Bans(context.Context) (api.Bans, error) {
	out := api.Bans{Permanent: []api.Ban{}, Temporary: []api.Ban{}}
	inKernel, err := b.fw.Bans()
	if err != nil {
		return out, err
	}
	why := map[netip.Prefix]store.Ban{}
	if b.state != nil {
		perms, err := b.state.Permanents()
		if err != nil {
			return out, err
		}
		for _, p := range perms {
			out.Permanent = append(out.Permanent, api.Ban{Source: p.Prefix.String(), Reason: p.Reason, UserAgent: p.UserAgent, At: p.At})
		}
		dyn, err := b.state.DynamicBans(time.Now())
		if err != nil {
			return out, err
		}
		for _, d := range dyn {
			why[d.Prefix] = d
		}
	}
	for _, k := range inKernel {
		d := why[k.Prefix]
		out.Temporary = append(out.Temporary, api.Ban{Source: k.Prefix.String(), Reason: d.Reason, UserAgent: d.UserAgent, Country: d.Country, Expires: k.Expires})
	}
	return out, nil
}

var errNoLog = errors.New("the attack log is kept in the state file: start the daemon with --state")

// Report computes the attack report of a day (today unless asked) or of
// the time since now minus q.Since.
func (b *backend) Report(_ context.Context, q api.ReportQuery) (api.Report, error) {
	if b.state == nil {
		return api.Report{}, errNoLog
	}
	if q.Top <= 0 {
		q.Top = api.DefaultTop
	}
	now := time.Now()
	from, to := now.Add(-q.Since), now
	if q.Since == 0 {
		day := q.Day
		if day == "" {
			day = now.Format("2006-01-02") // the state file's days are the system's
		}
		var err error
		if from, to, err = b.state.Day(day); err != nil {
			return api.Report{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
		}
	}
	r, err := b.state.Report(from, to, q.Top)
	if err != nil {
		return api.Report{}, err
	}
	out := reportOf(r)
	if b.tollfraud != nil {
		exts := b.tollfraud.Extensions(now)
		out.Outbound = outboundOf(exts[:min(len(exts), q.Top)]) // the busiest first
	}
	return out, nil
}

// outboundOf is the toll-fraud watch's count of the last hour as the API
// sends it.
func outboundOf(exts []tollfraud.Extension) []api.OutboundCalls {
	out := make([]api.OutboundCalls, 0, len(exts))
	for _, e := range exts {
		out = append(out, api.OutboundCalls{Extension: e.Extension, Calls: e.Calls, HighRisk: e.HighRisk, OffHours: e.OffHours,
			LastDialled: e.LastDialled, LastCall: e.LastCall})
	}
	return out
}

// reportOf is the state file's attack report as the API sends it.
func reportOf(r store.Report) api.Report {
	return api.Report{From: r.From, To: r.To, Events: r.Events, Attacks: r.Attacks, Bans: r.Bans,
		Permanent: r.Permanent, Alerts: r.Alerts, TopSources: countsOf(r.TopSources),
		TopUserAgents: countsOf(r.TopUserAgents), TopExtensions: countsOf(r.TopExtensions), Partial: r.Partial}
}

// countsOf converts a report's top list; nil stays nil.
func countsOf(cs []store.Count) []api.Count {
	if cs == nil {
		return nil
	}
	out := make([]api.Count, 0, len(cs))
	for _, c := range cs {
		out = append(out, api.Count{Value: c.Value, Count: c.Count, Country: c.Country})
	}
	return out
}
