package daemon

import (
	"context"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/verdict"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

// First-packet verdict states, as the status reports them.
const (
	firstPacketOn          = "on"
	firstPacketOff         = "off"
	firstPacketUnavailable = "unavailable"
)

// firstPacket runs the first-packet verdict: the kernel's tables and the
// listener that answers their queue. When the kernel lacks a piece the box
// protects without it.
type firstPacket struct {
	log      *slog.Logger
	kernel   *netfilter.Verdict // nil unless the tables are in
	listener *verdict.Listener  // nil until it runs
	state    string
}

// openFirstPacket puts the verdict's tables in when on. Until the listener
// runs, the queue lets every packet through.
func openFirstPacket(log *slog.Logger, on bool) *firstPacket {
	fp := &firstPacket{log: log, state: firstPacketOff}
	if !on {
		if v, err := netfilter.OpenVerdict(); err == nil {
			_ = v.Disable() // tables of an earlier run
			v.Close()
		}
		return fp
	}
	v, err := netfilter.OpenVerdict()
	if err == nil {
		if err = v.Enable(); err != nil {
			v.Close()
		}
	}
	if err != nil {
		log.Warn("first-packet verdict unavailable: new sources are judged from their first packet seen, as it is forwarded", "err", err)
		fp.state = firstPacketUnavailable
		return fp
	}
	fp.kernel, fp.state = v, firstPacketOn
	return fp
}

// on reports whether the kernel's tables are in: the ruleset marks SIP
// datagrams for them.
func (fp *firstPacket) on() bool { return fp.kernel != nil }

// start runs the listener with engine as the judge until ctx ends.
func (fp *firstPacket) start(ctx context.Context, g *errgroup.Group, engine *sip.Engine) {
	if fp.kernel == nil {
		return
	}
	q, err := verdict.OpenQueue(0)
	if err != nil {
		fp.log.Warn("first-packet verdict unavailable: new sources are judged from their first packet seen, as it is forwarded", "err", err)
		fp.state = firstPacketUnavailable
		return
	}
	l := verdict.New(engine)
	fp.listener = l
	g.Go(func() error {
		defer q.Close()
		if err := l.Run(ctx, q); err != nil {
			// The queue lets packets through without a listener: the box
			// protects as before.
			fp.log.Error("first-packet verdict stopped", "err", err)
		}
		return nil
	})
	fp.log.Info("first-packet verdict on", "queue", netfilter.VerdictQueue, "length", verdict.QueueLength)
}

// status returns the state and the counters for the status.
func (fp *firstPacket) status() (string, map[string]uint64) {
	c := map[string]uint64{}
	if fp.state == firstPacketOn && fp.listener == nil {
		return firstPacketUnavailable, c // the inspection, and the listener with it, did not start
	}
	if fp.listener == nil || fp.kernel == nil {
		return fp.state, c
	}
	st := fp.listener.Stats()
	c["first_packet_queued"], c["first_packet_accepted"], c["first_packet_dropped"] = st.Queued, st.Accepted, st.Dropped
	c["first_packet_unread"], c["first_packet_failed"] = st.Unread, st.Failed
	if ks, err := fp.kernel.Stats(); err == nil {
		c["first_packet_judged"] = uint64(ks.Judged)
		c["first_packet_over_rate"] = ks.OverRate
		if ks.Queued > st.Queued {
			// Sent to the queue, never read: let through by the kernel
			// (queue full, or no listener yet).
			c["first_packet_failed_open"] = ks.Queued - st.Queued
		}
	}
	return fp.state, c
}

// close takes the tables out when remove is set; otherwise they stay, and
// without a listener the queue lets everything through. Only the first
// call does anything.
func (fp *firstPacket) close(remove bool) {
	if fp.kernel == nil {
		return
	}
	if remove {
		if err := fp.kernel.Disable(); err != nil {
			fp.log.Error("first-packet verdict tables not removed", "err", err)
		}
	}
	fp.kernel.Close()
	fp.kernel = nil
}
