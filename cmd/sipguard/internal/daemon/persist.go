package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

// persistQueue is how many batches may wait for the card.
const persistQueue = 256

// record is what one enforcer batch changed, for the state file.
type record struct {
	bans      []store.Dynamic // new and extended dynamic bans
	newBans   []netip.Prefix  // new ones, for the ban history
	permanent []store.Permanent
	events    []store.Event
}

// persister writes the enforcer's batches to the state file, off the ban
// path: the kernel has the bans already; the card may take milliseconds.
// The ban history it keeps is what the block threshold counts across
// restarts: a source whose history reaches it is made permanent.
type persister struct {
	log       *slog.Logger
	st        *store.Store
	queue     chan record
	threshold int
	escalate  func(sip.Decision) // back to the enforcer
	dropped   func()
	fault     func(error) // the outcome of each write: nil clears the fault
}

func (p *persister) submit(r record) {
	select {
	case p.queue <- r:
	default:
		p.dropped()
		p.log.Error("state file queue full: a batch of bans was not recorded")
	}
}

func (p *persister) run(ctx context.Context) error {
	for {
		var r record
		select {
		case <-ctx.Done():
			p.drain()
			return nil
		case r = <-p.queue:
		}
		p.write(r)
	}
}

// drain writes what is still queued when the daemon stops: nothing lost.
func (p *persister) drain() {
	for {
		select {
		case r := <-p.queue:
			p.write(r)
		default:
			return
		}
	}
}

func (p *persister) write(r record) {
	if len(r.newBans) > 0 {
		counts, err := p.st.RecordBans(r.newBans...)
		if err != nil {
			p.log.Error("recording ban history failed", "err", err)
		}
		for i, n := range counts {
			if n >= p.threshold {
				ev := &sip.Event{Time: time.Now(), Action: sip.Permanent, Source: r.newBans[i], Addr: r.newBans[i].Addr(), Bans: n}
				// The reason of a permanent ban from the history: see reasonOf.
				p.escalate(sip.Decision{Action: sip.Permanent, Source: r.newBans[i], Event: ev})
			}
		}
	}
	err := p.st.Record(r.bans, r.permanent, r.events)
	if err != nil {
		p.log.Error("recording bans failed", "err", err)
	}
	if p.fault != nil {
		p.fault(err)
	}
}

// restore puts the state file's lists into rules, and returns the dynamic
// bans still in force, to apply once the ruleset is.
func restore(st *store.Store, rules *netfilter.Ruleset) ([]netfilter.Ban, error) {
	if err := addStoredLists(st, rules); err != nil {
		return nil, err
	}
	now := time.Now()
	dyn, err := st.Dynamics(now)
	if err != nil {
		return nil, fmt.Errorf("read dynamic bans: %w", err)
	}
	bans := make([]netfilter.Ban, 0, len(dyn))
	for _, d := range dyn {
		bans = append(bans, netfilter.Ban{Addr: d.Prefix.Addr(), Timeout: max(time.Second, d.Until.Sub(now))})
	}
	return bans, nil
}

// addStoredLists adds the state file's allow and deny lists and permanent
// bans to rules.
func addStoredLists(st *store.Store, rules *netfilter.Ruleset) error {
	for _, l := range []struct {
		list store.List
		dst  *[]netip.Prefix
	}{{store.Allow, &rules.Allow}, {store.Deny, &rules.Deny}} {
		entries, err := st.Entries(l.list)
		if err != nil {
			return fmt.Errorf("read %s list: %w", l.list, err)
		}
		for _, e := range entries {
			*l.dst = append(*l.dst, e.Prefix)
		}
	}
	perms, err := st.Permanents()
	if err != nil {
		return fmt.Errorf("read permanent bans: %w", err)
	}
	for _, p := range perms {
		rules.Permanent = append(rules.Permanent, p.Prefix)
	}
	return nil
}

func storedEvent(ev *sip.Event, country string) store.Event {
	return store.Event{Time: ev.Time, Action: ev.Action.String(), Source: ev.Source, Addr: ev.Addr,
		Reason: ev.Reason.String(), Count: ev.Count, UserAgent: ev.UserAgent, Extension: ev.Extension, Country: country}
}
