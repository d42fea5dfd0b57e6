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
	// Fragments counts the IP fragments seen; Reassembled the datagrams
	// put back together from them and read as UDP or TCP.
	Frames, Undecodable, Fragments, Reassembled, Unparsable, SocketDrops atomic.Uint64
	// TCP framing: bytes that were not SIP (TLS on 5061, say), streams
	// restarted after a lost segment, messages over the buffer, segments
	// put back in order, resets ignored (not at the stream's sequence).
	TCPGarbage, TCPResyncs, TCPOverflows, TCPReordered, TCPRSTIgnored atomic.Uint64
	// Datagrams the reassembler gave up: not complete in time, pushed out
	// by newer ones (table or memory full), overlapping fragments, over
	// 64 KB, inconsistent.
	FragTimeouts, FragEvicted, FragOverlaps, FragTooBig, FragMalformed atomic.Uint64
}

// Map returns the counters by the names the status shows.
func (st *InspectStats) Map() map[string]uint64 {
	return map[string]uint64{
		"frames": st.Frames.Load(), "undecodable": st.Undecodable.Load(), "fragments": st.Fragments.Load(),
		"unparsable": st.Unparsable.Load(), "socket_drops": st.SocketDrops.Load(), "tcp_garbage_bytes": st.TCPGarbage.Load(),
		"tcp_resyncs": st.TCPResyncs.Load(), "tcp_overflows": st.TCPOverflows.Load(),
		"tcp_reordered": st.TCPReordered.Load(), "tcp_rst_ignored": st.TCPRSTIgnored.Load(),
		"reassembled": st.Reassembled.Load(), "frag_timeouts": st.FragTimeouts.Load(), "frag_evicted": st.FragEvicted.Load(),
		"frag_overlaps": st.FragOverlaps.Load(), "frag_too_big": st.FragTooBig.Load(), "frag_malformed": st.FragMalformed.Load(),
	}
}

// Inspect reads the SIP frames that enter on one port and hands each
// message to the engine, until ctx ends. Each port has its own decoder
// state; nothing here allocates per packet.
func Inspect(ctx context.Context, c Capture, dir sip.Direction, e *sip.Engine, st *InspectStats) error {
	d := newDecoder(dir, e, st)
	defer d.close()
	return c.Run(ctx, d.frame)
}

// decoder is one capture worker's state, from frame to message: the
// packet and message being read, the TCP framer and the fragment
// reassembler. It is not safe for concurrent use.
type decoder struct {
	dir     sip.Direction
	engine  *sip.Engine
	st      *InspectStats
	p       sip.Packet
	m       sip.Message
	pkt     *sip.Packet // the packet whose payload is being handled
	streams *sip.Streams
	frags   *sip.Reassembler
	fragged sip.ReassemblyStats // what st has of frags' counters
	now     time.Time
	handleF func(msg []byte) // handle, bound once
}

func newDecoder(dir sip.Direction, e *sip.Engine, st *InspectStats) *decoder {
	d := &decoder{
		dir: dir, engine: e, st: st,
		streams: sip.NewStreams(4096, 64<<10, 2*time.Minute),
		frags:   sip.NewReassembler(sip.ReassemblyConfig{}),
	}
	d.handleF = d.handle
	return d
}

// frame reads one captured frame.
func (d *decoder) frame(frame []byte) {
	d.now = time.Now()
	d.st.Frames.Add(1)
	d.pkt = &d.p
	if err := sip.Decode(frame, &d.p); err != nil {
		if !errors.Is(err, sip.ErrFragment) {
			d.st.Undecodable.Add(1)
			return
		}
		d.st.Fragments.Add(1)
		whole, _ := d.frags.Add(d.now, &d.p) // the causes of give-ups are counted
		d.countFrags()
		if whole == nil {
			return
		}
		d.pkt = whole
	}
	if d.pkt.Proto == sip.ProtoTCP {
		d.streams.Feed(d.now, d.pkt, d.handleF)
		return
	}
	d.handle(d.pkt.Payload)
}

func (d *decoder) handle(msg []byte) {
	if err := sip.Parse(msg, &d.m); err != nil {
		d.st.Unparsable.Add(1)
		return
	}
	d.engine.Handle(d.now, d.dir, d.pkt, &d.m)
}

// countFrags adds what the reassembler counted since the last call.
func (d *decoder) countFrags() {
	now := d.frags.Stats()
	was := d.fragged
	d.st.Reassembled.Add(now.Reassembled - was.Reassembled)
	d.st.FragTimeouts.Add(now.Timeouts - was.Timeouts)
	d.st.FragEvicted.Add(now.Evicted - was.Evicted)
	d.st.FragOverlaps.Add(now.Overlaps - was.Overlaps)
	d.st.FragTooBig.Add(now.TooBig - was.TooBig)
	d.st.FragMalformed.Add(now.Malformed - was.Malformed)
	d.fragged = now
}

// close adds the TCP framer's counters.
func (d *decoder) close() {
	ts := d.streams.Stats()
	d.st.TCPGarbage.Add(ts.Garbage)
	d.st.TCPResyncs.Add(ts.Resyncs)
	d.st.TCPOverflows.Add(ts.Overflows)
	d.st.TCPReordered.Add(ts.Reordered)
	d.st.TCPRSTIgnored.Add(ts.RSTIgnored)
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
