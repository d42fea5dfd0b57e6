package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sipguard/sipguard/sip"
)

// Capture is one port's copy of the SIP traffic; *sip.Capture satisfies
// it.
type Capture interface {
	// Run calls fn with each frame until ctx ends; the frame is only valid
	// during the call.
	Run(ctx context.Context, fn func(frame []byte)) error
	// Dropped returns the frames the kernel dropped since the last call
	// because the capture's queue was full.
	Dropped() (uint64, error)
}

// InspectStats count what the captures read and what they could not.
type InspectStats struct {
	Frames, Undecodable, Fragments, Unparsable, SocketDrops atomic.Uint64
	// TCP framing: bytes that were not SIP (TLS on 5061, say), streams
	// restarted after a lost segment, messages over the buffer.
	TCPGarbage, TCPResyncs, TCPOverflows atomic.Uint64
}

// Map returns the counters by the names the status shows.
func (st *InspectStats) Map() map[string]uint64 {
	return map[string]uint64{
		"frames": st.Frames.Load(), "undecodable": st.Undecodable.Load(), "fragments": st.Fragments.Load(),
		"unparsable": st.Unparsable.Load(), "socket_drops": st.SocketDrops.Load(), "tcp_garbage_bytes": st.TCPGarbage.Load(),
		"tcp_resyncs": st.TCPResyncs.Load(), "tcp_overflows": st.TCPOverflows.Load(),
	}
}

// Inspect reads the SIP frames that enter on one port and hands each
// message to the engine, until ctx ends. Each port has its own decoder
// state; nothing here allocates per packet.
func Inspect(ctx context.Context, c Capture, dir sip.Direction, e *sip.Engine, st *InspectStats) error {
	var (
		p       sip.Packet
		m       sip.Message
		streams = sip.NewStreams(4096, 64<<10, 2*time.Minute)
		now     time.Time
	)
	handle := func(msg []byte) {
		if err := sip.Parse(msg, &m); err != nil {
			st.Unparsable.Add(1)
			return
		}
		e.Handle(now, dir, &p, &m)
	}
	defer func() {
		ts := streams.Stats()
		st.TCPGarbage.Add(ts.Garbage)
		st.TCPResyncs.Add(ts.Resyncs)
		st.TCPOverflows.Add(ts.Overflows)
	}()
	return c.Run(ctx, func(frame []byte) {
		now = time.Now()
		st.Frames.Add(1)
		if err := sip.Decode(frame, &p); err != nil {
			if errors.Is(err, sip.ErrFragment) {
				st.Fragments.Add(1)
			} else {
				st.Undecodable.Add(1)
			}
			return
		}
		if p.Proto == sip.ProtoTCP {
			streams.Feed(now, &p, handle)
			return
		}
		handle(p.Payload)
	})
}

// WatchDrops polls a capture's kernel drop counter every period and warns
// when the capture's queue overflowed: detection missed frames.
func WatchDrops(ctx context.Context, log *slog.Logger, c Capture, port string, period time.Duration, st *InspectStats) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			n, err := c.Dropped()
			if err != nil {
				log.Warn("capture statistics", "port", port, "err", err)
				continue
			}
			if n > 0 {
				st.SocketDrops.Add(n)
				log.Warn("capture queue overflowed: frames not inspected", "port", port, "dropped", n)
			}
		}
	}
}
