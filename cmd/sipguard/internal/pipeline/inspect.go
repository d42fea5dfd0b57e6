package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sipguard/sipguard/sip"
)

// Capture is one port's copy of the SIP traffic, read by one or more
// workers; *sip.Capture satisfies it.
type Capture interface {
	// Workers returns the number of workers Run calls fn from.
	Workers() int
	// Run calls fn with each frame until ctx ends, from one goroutine per
	// worker (worker < Workers()); the frame is only valid during the
	// call. backlog says how far behind the worker is.
	Run(ctx context.Context, fn func(worker int, frame []byte, backlog sip.Backlog)) error
	// Stats returns what the capture lost since the last call.
	Stats() (sip.CaptureStats, error)
}

// InspectStats count what the captures read and what they could not.
type InspectStats struct {
	Frames, Undecodable, Fragments, Unparsable atomic.Uint64
	// What the capture lost: frames the kernel dropped because a ring was
	// full, the times a ring filled up, frames too large for the ring.
	SocketDrops, RingFreezes, Truncated atomic.Uint64
	// Requests skipped unparsed while a worker was behind (load shedding).
	Shed atomic.Uint64
	// TCP framing: bytes that were not SIP (TLS on 5061, say), streams
	// restarted after a lost segment, messages over the buffer.
	TCPGarbage, TCPResyncs, TCPOverflows atomic.Uint64
}

// Map returns the counters by the names the status shows.
func (st *InspectStats) Map() map[string]uint64 {
	return map[string]uint64{
		"frames": st.Frames.Load(), "undecodable": st.Undecodable.Load(), "fragments": st.Fragments.Load(),
		"unparsable": st.Unparsable.Load(), "socket_drops": st.SocketDrops.Load(), "ring_freezes": st.RingFreezes.Load(),
		"truncated_frames": st.Truncated.Load(), "shed_requests": st.Shed.Load(), "tcp_garbage_bytes": st.TCPGarbage.Load(),
		"tcp_resyncs": st.TCPResyncs.Load(), "tcp_overflows": st.TCPOverflows.Load(),
	}
}

// InspectOptions tune Inspect.
type InspectOptions struct {
	// Suspect reports whether a source is already under suspicion
	// (failures counted, or banned): its requests are kept when the
	// capture falls behind. It must be cheap and safe for concurrent use.
	// Without it, requests are shed only when a ring is over ShedAll full.
	Suspect func(netip.Addr) bool
}

// Load shedding thresholds, in percent of a worker's ring: past ShedNew,
// requests from sources Suspect does not name are skipped; past ShedAll,
// without Suspect, all requests over UDP are. Responses, which say whether
// a request failed, and TCP, whose streams must stay whole, are always
// read.
const (
	ShedNew sip.Backlog = 50
	ShedAll sip.Backlog = 75
)

// Inspect reads the SIP frames that enter on one port and hands each
// message to the engine, until ctx ends, with the default options.
func Inspect(ctx context.Context, c Capture, dir sip.Direction, e *sip.Engine, st *InspectStats) error {
	return InspectWith(ctx, c, dir, e, st, InspectOptions{})
}

// inspector is one capture worker's decoder state.
type inspector struct {
	p       sip.Packet
	m       sip.Message
	streams *sip.Streams
	now     time.Time
	handle  func(msg []byte)
	// counted locally, added to the shared stats every flushEvery frames
	// and at the end, so that workers do not contend on them per frame
	frames, undecodable, fragments, unparsable, shed uint64
}

const flushEvery = 256

func (w *inspector) flush(st *InspectStats) {
	st.Frames.Add(w.frames)
	st.Undecodable.Add(w.undecodable)
	st.Fragments.Add(w.fragments)
	st.Unparsable.Add(w.unparsable)
	st.Shed.Add(w.shed)
	w.frames, w.undecodable, w.fragments, w.unparsable, w.shed = 0, 0, 0, 0, 0
}

// InspectWith reads the SIP frames that enter on one port and hands each
// message to the engine, until ctx ends. Each capture worker has its own
// decoder and TCP framing state (a TCP connection's segments all reach one
// worker); the engine is shared. Nothing here allocates per packet. The
// counters in st lag by up to a few hundred frames per worker while it
// runs, and are complete when it returns.
func InspectWith(ctx context.Context, c Capture, dir sip.Direction, e *sip.Engine, st *InspectStats, o InspectOptions) error {
	n := max(c.Workers(), 1)
	ws := make([]inspector, n)
	for i := range ws {
		w := &ws[i]
		// the connections hash evenly over the workers
		w.streams = sip.NewStreams(max(4096/n, 1024), 64<<10, 2*time.Minute)
		w.handle = func(msg []byte) {
			if err := sip.Parse(msg, &w.m); err != nil {
				w.unparsable++
				return
			}
			e.Handle(w.now, dir, &w.p, &w.m)
		}
	}
	shedAt := ShedAll
	if o.Suspect != nil {
		shedAt = ShedNew
	}
	defer func() {
		for i := range ws {
			ws[i].flush(st)
			ts := ws[i].streams.Stats()
			st.TCPGarbage.Add(ts.Garbage)
			st.TCPResyncs.Add(ts.Resyncs)
			st.TCPOverflows.Add(ts.Overflows)
		}
	}()
	return c.Run(ctx, func(worker int, frame []byte, backlog sip.Backlog) {
		w := &ws[worker]
		w.now = time.Now()
		if w.frames++; w.frames == flushEvery {
			w.flush(st)
		}
		if err := sip.Decode(frame, &w.p); err != nil {
			if errors.Is(err, sip.ErrFragment) {
				w.fragments++
			} else {
				w.undecodable++
			}
			return
		}
		if w.p.Proto == sip.ProtoTCP {
			w.streams.Feed(w.now, &w.p, w.handle)
			return
		}
		if backlog > shedAt && !isResponse(w.p.Payload) && (o.Suspect == nil || !o.Suspect(w.p.Src)) {
			w.shed++
			return
		}
		w.handle(w.p.Payload)
	})
}

// isResponse reports whether a UDP payload is a SIP response.
func isResponse(payload []byte) bool {
	return len(payload) >= 8 && string(payload[:8]) == "SIP/2.0 "
}

// WatchDrops polls a capture's loss counters every period, adds them to
// st, and warns when the capture's ring overflowed (detection missed
// frames) or a frame was too large to inspect.
func WatchDrops(ctx context.Context, log *slog.Logger, c Capture, port string, period time.Duration, st *InspectStats) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			cs, err := c.Stats()
			if err != nil {
				log.Warn("capture statistics", "port", port, "err", err)
				continue
			}
			st.SocketDrops.Add(cs.Drops)
			st.RingFreezes.Add(cs.Freezes)
			st.Truncated.Add(cs.Truncated)
			if cs.Drops > 0 {
				log.Warn("capture queue overflowed: frames not inspected", "port", port, "dropped", cs.Drops, "ring_full", cs.Freezes)
			}
			if cs.Truncated > 0 {
				log.Warn("frames too large for the capture ring: not inspected", "port", port, "truncated", cs.Truncated)
			}
		}
	}
}
