package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
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
		// A permanent ban stored without its country (made before the
		// country database was there) gets it now, once.
		perms, err := b.state.FillCountries(b.geo.country)
		if err != nil && perms == nil {
			return out, err
		}
		for _, p := range perms {
			out.Permanent = append(out.Permanent, api.Ban{Source: p.Prefix.String(), Reason: p.Reason, UserAgent: p.UserAgent, Country: p.Country, At: p.At, Bans: p.Bans})
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

// Unban lifts the bans covering each prefix: the dynamic ones, or with
// permanent the permanent ones. The detection forgets the sources and the
// state file the bans, so that they do not come back on a restart; a
// permanent ban lifted takes its source's ban history with it. A dynamic
// unban of an address banned permanently changes nothing and says to
// lift the permanent ban instead.
func (b *backend) Unban(ctx context.Context, prefixes []netip.Prefix, permanent bool) (api.UnbanResponse, error) {
	covered, err := b.permanents(ctx, prefixes)
	if err != nil {
		return api.UnbanResponse{}, err
	}
	if permanent {
		return b.liftPermanent(ctx, prefixes, covered)
	}
	for i, p := range prefixes {
		if len(covered[i]) > 0 {
			return api.UnbanResponse{}, fmt.Errorf("%w: %v is banned permanently (%v): lift it with unban --permanent", api.ErrBadRequest, show(p), covered[i][0])
		}
	}
	inKernel, err := b.fw.Bans()
	if err != nil {
		return api.UnbanResponse{}, err
	}
	var (
		out     api.UnbanResponse
		lift    []netip.Prefix
		sources []netip.Prefix // the state file's records to forget
	)
	for _, p := range prefixes {
		banned := false
		for _, k := range inKernel {
			if k.Prefix.Overlaps(p) {
				banned = true
				if k.Prefix.Bits() >= p.Bits() {
					sources = append(sources, k.Prefix)
				}
			}
		}
		if !banned {
			out.NotBanned = append(out.NotBanned, show(p))
			continue
		}
		out.Unbanned++
		lift = append(lift, p)
		if b.engine != nil && p.IsSingleIP() {
			sources = append(sources, b.engine.SourceOf(p.Addr()))
			b.engine.Forget(p.Addr())
		}
	}
	if len(lift) == 0 {
		return out, nil
	}
	if err := b.fw.Unban(lift); err != nil {
		return api.UnbanResponse{}, err
	}
	if b.state != nil {
		if err := b.state.RemoveDynamic(sources...); err != nil {
			return out, fmt.Errorf("lifted in the kernel, but the state file keeps them: %w", err)
		}
	}
	return out, nil
}

// show writes an address alone, a network as a prefix.
func show(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// permanents returns, for each prefix, the permanent bans over it: the
// enforcer's, which has every one in force, or without inspection the
// state file's.
func (b *backend) permanents(ctx context.Context, prefixes []netip.Prefix) ([][]netip.Prefix, error) {
	if b.enforcer != nil {
		return b.enforcer.Permanents(ctx, prefixes)
	}
	out := make([][]netip.Prefix, len(prefixes))
	if b.state == nil {
		return out, nil
	}
	perms, err := b.state.Permanents()
	if err != nil {
		return nil, err
	}
	for i, p := range prefixes {
		for _, q := range perms {
			if q.Prefix.Overlaps(p) {
				out[i] = append(out[i], q.Prefix)
			}
		}
	}
	return out, nil
}

// liftPermanent lifts the permanent bans covered holds for each prefix.
func (b *backend) liftPermanent(ctx context.Context, prefixes []netip.Prefix, covered [][]netip.Prefix) (api.UnbanResponse, error) {
	var out api.UnbanResponse
	var lifted []netip.Prefix
	var err error
	if b.enforcer != nil {
		covered, err = b.enforcer.LiftPermanent(ctx, prefixes)
	} else if b.state != nil {
		// Without inspection the ruleset is the configuration's and the
		// state file's lists: the state file changes, then the kernel.
		var evs []store.Event
		now := time.Now()
		for i, p := range prefixes {
			for _, q := range covered[i] {
				lifted = append(lifted, q)
				evs = append(evs, store.Event{Time: now, Action: store.ActionUnban, Source: q, Addr: p.Addr()})
			}
		}
		if len(lifted) > 0 {
			if _, err = b.state.LiftPermanent(lifted, evs); err == nil {
				err = b.apply(ctx)
			}
		}
	}
	if err != nil {
		return out, err
	}
	lifted = lifted[:0]
	for i, p := range prefixes {
		if len(covered[i]) == 0 {
			out.NotBanned = append(out.NotBanned, show(p))
			continue
		}
		out.Unbanned++
		for _, q := range covered[i] {
			if !slices.Contains(lifted, q) {
				lifted = append(lifted, q)
				out.Lifted = append(out.Lifted, q.String())
			}
		}
		if b.engine != nil && p.IsSingleIP() {
			b.engine.Forget(p.Addr())
		}
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
