package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

// decisionQueue is how many decisions may wait for the kernel; beyond, new
// ones are counted and dropped rather than blocking the captures.
const decisionQueue = 4096

// enforcer turns the engine's decisions into kernel changes: whatever has
// queued up since the last batch goes in one netlink batch, so a burst of
// bans costs one round trip and a single ban is applied at once.
type enforcer struct {
	log     *slog.Logger
	fw      *netfilter.Firewall
	rules   *netfilter.Ruleset // the ruleset in force; permanent bans extend it
	queue   chan sip.Decision
	dropped func()
	persist func(record) // nil without a state file
	reloads chan reloadReq
	banned  func() // told of each batch that bans someone new
	country func(netip.Addr) string
	alert   func(store.Event) // the notifications; never blocks
}

// reloadReq asks the enforcer to put a ruleset in force, and waits.
type reloadReq struct {
	rules netfilter.Ruleset
	done  chan error
}

// reload puts a new ruleset in force, keeping the permanent bans made since
// the last one.
func (e *enforcer) reload(r netfilter.Ruleset) error {
	for _, p := range e.rules.Permanent {
		if !slices.Contains(r.Permanent, p) {
			r.Permanent = append(r.Permanent, p)
		}
	}
	if err := e.fw.Apply(r); err != nil {
		return err
	}
	*e.rules = r
	return nil
}

func (e *enforcer) submit(d sip.Decision) {
	select {
	case e.queue <- d:
	default:
		e.dropped()
	}
}

func (e *enforcer) run(ctx context.Context) error {
	batch := make([]sip.Decision, 0, 256)
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-e.reloads:
			r.done <- e.reload(r.rules)
			continue
		case d := <-e.queue:
			batch = append(batch[:0], d)
		}
	drain:
		for len(batch) < cap(batch) {
			select {
			case d := <-e.queue:
				batch = append(batch, d)
			default:
				break drain
			}
		}
		e.apply(batch)
	}
}

func (e *enforcer) apply(batch []sip.Decision) {
	var (
		bans      []netfilter.Ban
		rec       record
		permanent bool
	)
	start := time.Now()
	for _, d := range batch {
		country := "" // looked up once per event
		if d.Event != nil {
			country = e.country(d.Event.Addr)
		}
		switch d.Action {
		case sip.Ban, sip.Refresh:
			bans = append(bans, netfilter.Ban{Addr: d.Source.Addr(), Timeout: d.Duration})
			dyn := store.Dynamic{Prefix: d.Source, Until: start.Add(d.Duration)}
			if ev := d.Event; ev != nil { // a refresh keeps the ban's reason
				dyn.Reason, dyn.UserAgent, dyn.Country = reasonOf(ev), ev.UserAgent, country
			}
			rec.bans = append(rec.bans, dyn)
			if d.Action == sip.Ban {
				rec.newBans = append(rec.newBans, d.Source)
			}
		case sip.Permanent:
			if !slices.Contains(e.rules.Permanent, d.Source) {
				e.rules.Permanent = append(e.rules.Permanent, d.Source)
				permanent = true
				p := store.Permanent{Prefix: d.Source, At: start}
				if ev := d.Event; ev != nil {
					p.Reason, p.UserAgent, p.Bans, p.Country = reasonOf(ev), ev.UserAgent, ev.Bans, country
				}
				rec.permanent = append(rec.permanent, p)
			}
		}
		if d.Event != nil {
			rec.events = append(rec.events, storedEvent(d.Event, country))
		}
	}
	if len(bans) > 0 {
		if err := e.fw.Ban(bans); err != nil {
			e.log.Error("applying bans failed", "bans", len(bans), "err", err)
		}
	}
	if permanent {
		if err := e.fw.Apply(*e.rules); err != nil {
			e.log.Error("adding permanent bans failed", "err", err)
		}
	}
	applied := time.Now()
	if len(rec.newBans) > 0 || permanent {
		e.banned()
	}
	if e.persist != nil {
		e.persist(rec)
	}
	for _, ev := range rec.events {
		e.alert(ev)
	}
	events := rec.events // one per decision with an event, in order
	for _, d := range batch {
		if ev := d.Event; ev != nil {
			country := events[0].Country
			events = events[1:]
			e.log.Info(ev.Action.String(), "source", ev.Source, "addr", ev.Addr, "country", country, "reason", reasonOf(ev),
				"count", ev.Count, "extension", ev.Extension, "user_agent", ev.UserAgent, "bans", ev.Bans,
				"applied_after", applied.Sub(ev.Time).Round(time.Microsecond), "batch", len(batch), "netlink", applied.Sub(start).Round(time.Microsecond))
		}
	}
}

// reasonOf names an event's reason; a permanent ban from the ban history
// has none of the engine's.
func reasonOf(ev *sip.Event) string {
	if ev.Reason == 0 {
		return "banned " + fmt.Sprint(ev.Bans) + " times"
	}
	return ev.Reason.String()
}
