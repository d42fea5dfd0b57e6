package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sipguard/sipguard/sip"
)

// inspectStats counts what the captures could not read.
type inspectStats struct {
	frames, undecodable, fragments, unparsable, socketDrops atomic.Uint64
	// TCP framing: bytes that were not SIP (TLS on 5061, say), streams
	// restarted after a lost segment, messages over the buffer.
	tcpGarbage, tcpResyncs, tcpOverflows atomic.Uint64
}

// watchDrops polls a capture's kernel drop counter and warns when the
// socket's queue overflowed: detection missed frames.
func watchDrops(ctx context.Context, log *slog.Logger, c *sip.Capture, iface string, st *inspectStats) error {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			n, err := c.Dropped()
			if err != nil {
				log.Warn("capture statistics", "port", iface, "err", err)
				continue
			}
			if n > 0 {
				st.socketDrops.Add(n)
				log.Warn("capture queue overflowed: frames not inspected", "port", iface, "dropped", n)
			}
		}
	}
}

// inspect reads the SIP frames that enter on one port and hands each
// message to the engine. Each capture has its own decoder state; nothing
// here allocates per packet.
func inspect(ctx context.Context, c *sip.Capture, dir sip.Direction, e *sip.Engine, st *inspectStats) error {
	var (
		p       sip.Packet
		m       sip.Message
		streams = sip.NewStreams(4096, 64<<10, 2*time.Minute)
		now     time.Time
	)
	handle := func(msg []byte) {
		if err := sip.Parse(msg, &m); err != nil {
			st.unparsable.Add(1)
			return
		}
		e.Handle(now, dir, &p, &m)
	}
	defer func() {
		ts := streams.Stats()
		st.tcpGarbage.Add(ts.Garbage)
		st.tcpResyncs.Add(ts.Resyncs)
		st.tcpOverflows.Add(ts.Overflows)
	}()
	return c.Run(ctx, func(frame []byte) {
		now = time.Now()
		st.frames.Add(1)
		if err := sip.Decode(frame, &p); err != nil {
			if err == sip.ErrFragment {
				st.fragments.Add(1)
			} else {
				st.undecodable.Add(1)
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

// allowlist returns the engine's allowlist check for a list of prefixes.
func allowlist(prefixes []netip.Prefix) func(netip.Addr) bool {
	return func(a netip.Addr) bool {
		for _, p := range prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
}
