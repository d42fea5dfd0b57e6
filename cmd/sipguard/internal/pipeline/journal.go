package pipeline

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// record is what one batch changed, for the journal.
type record struct {
	bans      []store.Ban    // new and extended dynamic bans
	newBans   []netip.Prefix // new ones, for the ban history
	permanent []store.Ban
	events    []store.Event
	lifted    []netip.Prefix // dynamic bans lifted early
	decay     time.Duration  // the ban history's forgiveness, for newBans
	// unbanned are permanent bans lifted by hand, with the events that
	// log it; done, if not nil, gets the outcome of the write.
	unbanned []netip.Prefix
	done     chan<- error
}

// journaler writes the enforcer's batches to the journal, off the ban
// path.
type journaler struct {
	log     *slog.Logger
	j       Journal
	queue   chan record
	fault   func(error) // nil, or the outcome of each write
	dropped atomic.Uint64
	errors  atomic.Uint64
}

func newJournaler(log *slog.Logger, j Journal, size int, fault func(error)) *journaler {
	return &journaler{log: log, j: j, queue: make(chan record, size), fault: fault}
}

// submit queues a batch; it never blocks.
func (p *journaler) submit(r record) {
	if len(r.bans) == 0 && len(r.newBans) == 0 && len(r.permanent) == 0 && len(r.events) == 0 && len(r.lifted) == 0 && len(r.unbanned) == 0 {
		return
	}
	select {
	case p.queue <- r:
	default:
		p.dropped.Add(1)
		p.log.Error("state file queue full: a batch of bans was not recorded (the kernel has them)")
	}
}

// run writes batches until stop is closed (once nothing more is
// submitted), then what is still queued: nothing queued is lost on a clean
// stop.
func (p *journaler) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			for {
				select {
				case r := <-p.queue:
					p.write(r)
				default:
					return
				}
			}
		case r := <-p.queue:
			p.write(r)
		}
	}
}

// submitWait queues a batch whose outcome the caller waits for: it waits
// for room in the queue rather than dropping the batch, until ctx ends.
func (p *journaler) submitWait(ctx context.Context, r record) error {
	select {
	case p.queue <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *journaler) write(r record) {
	if len(r.unbanned) > 0 {
		_, err := p.j.LiftPermanent(r.unbanned, r.events)
		if err != nil {
			p.errors.Add(1)
			p.log.Error("recording permanent bans lifted failed", "err", err)
		}
		if p.fault != nil {
			p.fault(err)
		}
		if r.done != nil {
			r.done <- err
		}
		return
	}
	var err error
	if len(r.newBans) > 0 {
		if _, err = p.j.RecordBans(r.decay, r.newBans...); err != nil {
			p.log.Error("recording ban history failed", "err", err)
		}
	}
	if len(r.lifted) > 0 {
		if lerr := p.j.RemoveDynamic(r.lifted...); lerr != nil {
			p.log.Error("forgetting bans lifted early failed", "err", lerr)
			err = lerr
		}
	}
	if werr := p.j.Record(r.bans, r.permanent, r.events); werr != nil {
		p.log.Error("recording bans failed", "err", werr)
		err = werr
	}
	if err != nil {
		p.errors.Add(1)
	}
	if p.fault != nil {
		p.fault(err)
	}
}
