package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
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
	// Fragments counts the IP fragments seen; Reassembled the datagrams
	// put back together from them and read as UDP or TCP.
	Frames, Undecodable, Fragments, Reassembled, Unparsable atomic.Uint64
	// What the capture lost: frames the kernel dropped because a worker's
	// queue was full, frames too large to read.
	SocketDrops, Truncated atomic.Uint64
	// Requests skipped unparsed while a worker was behind (load shedding).
	Shed atomic.Uint64
	// TCP framing: bytes that were not SIP (TLS on 5061, say), streams
	// restarted after a lost segment, messages over the buffer, segments
	// put back in order, resets ignored (not at the stream's sequence).
	TCPGarbage, TCPResyncs, TCPOverflows, TCPReordered, TCPRSTIgnored atomic.Uint64
	// Datagrams the reassembler gave up: not complete in time, pushed out
	// by newer ones (table or memory full), overlapping fragments, over
	// 64 KB, inconsistent.
	FragTimeouts, FragEvicted, FragOverlaps, FragTooBig, FragMalformed atomic.Uint64
	// sip holds each worker's count of the messages parsed (SIPTotals).
	sipMu sync.Mutex
	sip   []*SIPCounts
}

// SIPTotals returns the SIP messages parsed so far by every worker.
func (st *InspectStats) SIPTotals() *SIPCounts {
	st.sipMu.Lock()
	defer st.sipMu.Unlock()
	var out SIPCounts
	for _, w := range st.sip {
		for i := range w.Requests {
			out.Requests[i].Add(w.Requests[i].Load())
			for k := range w.Responses[i] {
				out.Responses[i][k].Add(w.Responses[i][k].Load())
			}
		}
	}
	return &out
}

// NewSIPCounts returns the counts of a new worker, which SIPTotals reads.
func (st *InspectStats) NewSIPCounts() *SIPCounts {
	c := new(SIPCounts)
	st.sipMu.Lock()
	st.sip = append(st.sip, c)
	st.sipMu.Unlock()
	return c
}

// Methods is the number of methods SIPCounts tells apart: the ones
// sip.Method names, MethodOther included, indexed by sip.Method.
const Methods = int(sip.UPDATE) + 1

// SIPCounts count the SIP messages parsed: requests by method, responses
// by the method they answer (their CSeq's) and status class, index 0 for
// 1xx up to 5 for 6xx. Fixed arrays, so that counting is an index and
// an add, whatever the traffic; each worker has its own, so the adds
// never contend, and a scrape sees every message at once.
type SIPCounts struct {
	Requests  [Methods]atomic.Uint64
	Responses [Methods][6]atomic.Uint64
}

// count counts m.
func (c *SIPCounts) count(m *sip.Message) {
	i := int(m.Method)
	if i >= Methods {
		i = int(sip.MethodOther)
	}
	if m.Request {
		c.Requests[i].Add(1)
		return
	}
	if class := m.Status/100 - 1; class >= 0 && class < 6 {
		c.Responses[i][class].Add(1)
	}
}

// Map returns the counters by the names the status shows.
func (st *InspectStats) Map() map[string]uint64 {
	return map[string]uint64{
		"frames": st.Frames.Load(), "undecodable": st.Undecodable.Load(), "fragments": st.Fragments.Load(),
		"unparsable": st.Unparsable.Load(), "socket_drops": st.SocketDrops.Load(),
		"truncated_frames": st.Truncated.Load(), "shed_requests": st.Shed.Load(), "tcp_garbage_bytes": st.TCPGarbage.Load(),
		"tcp_resyncs": st.TCPResyncs.Load(), "tcp_overflows": st.TCPOverflows.Load(),
		"tcp_reordered": st.TCPReordered.Load(), "tcp_rst_ignored": st.TCPRSTIgnored.Load(),
		"reassembled": st.Reassembled.Load(), "frag_timeouts": st.FragTimeouts.Load(), "frag_evicted": st.FragEvicted.Load(),
		"frag_overlaps": st.FragOverlaps.Load(), "frag_too_big": st.FragTooBig.Load(), "frag_malformed": st.FragMalformed.Load(),
	}
}

// InspectOptions tune Inspect.
type InspectOptions struct {
	// Suspect reports whether a source is already under suspicion
	// (failures counted, or banned): its requests are kept when the
	// capture falls behind. It must be cheap and safe for concurrent use.
	// Without it, requests are shed only when a queue is over ShedAll full.
	Suspect func(netip.Addr) bool
	// Outbound, if set, is told of every request that entered from the
	// office side (FromLAN), after the engine: the toll-fraud watch. It
	// must not block, must be safe for concurrent use, and must not keep
	// m, which is reused.
	Outbound func(now time.Time, src netip.Addr, m *sip.Message)
}

// Load shedding thresholds, in percent of a worker's queue: past ShedNew,
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
	// outbound is told of the requests from the office side; nil: none.
	outbound func(now time.Time, src netip.Addr, m *sip.Message)
	// counted locally, added to the shared stats every flushEvery frames
	// and at the end, so that workers do not contend on them per frame
	frames, undecodable, fragments, unparsable, shed uint64
	sip                                              *SIPCounts // this worker's own
}

const flushEvery = 256

// newDecoder returns a worker's decoder; maxFlows bounds its TCP
// connections.
func newDecoder(dir sip.Direction, e *sip.Engine, st *InspectStats, maxFlows int) *decoder {
	d := &decoder{
		dir: dir, engine: e, st: st,
		streams: sip.NewStreams(maxFlows, 64<<10, 2*time.Minute),
		frags:   sip.NewReassembler(sip.ReassemblyConfig{}),
	}
	d.handleF = d.handle
	d.sip = st.NewSIPCounts()
	return d
}

// frame reads one captured frame; shed says whether a request over UDP
// is to be skipped unread.
func (d *decoder) frame(frame []byte, shed func(src netip.Addr) bool) {
	d.now = time.Now()
	if d.frames++; d.frames == flushEvery {
		d.flush()
	}
	d.pkt = &d.p
	if err := sip.Decode(frame, &d.p); err != nil {
		if !errors.Is(err, sip.ErrFragment) {
			d.undecodable++
			return
		}
		d.fragments++
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
	if shed != nil && !isResponse(d.pkt.Payload) && shed(d.pkt.Src) {
		d.shed++
		return
	}
	d.handle(d.pkt.Payload)
}

func (d *decoder) handle(msg []byte) {
	if err := sip.Parse(msg, &d.m); err != nil {
		d.unparsable++
		return
	}
	d.sip.count(&d.m)
	d.engine.Handle(d.now, d.dir, d.pkt, &d.m)
	if d.outbound != nil && d.m.Request {
		d.outbound(d.now, d.pkt.Src, &d.m)
	}
}

// flush adds the local counters to the shared ones.
func (d *decoder) flush() {
	d.st.Frames.Add(d.frames)
	d.st.Undecodable.Add(d.undecodable)
	d.st.Fragments.Add(d.fragments)
	d.st.Unparsable.Add(d.unparsable)
	d.st.Shed.Add(d.shed)
	d.frames, d.undecodable, d.fragments, d.unparsable, d.shed = 0, 0, 0, 0, 0
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

// close adds what is still counted locally, and the TCP framer's counters.
func (d *decoder) close() {
	d.flush()
	ts := d.streams.Stats()
	d.st.TCPGarbage.Add(ts.Garbage)
	d.st.TCPResyncs.Add(ts.Resyncs)
	d.st.TCPOverflows.Add(ts.Overflows)
	d.st.TCPReordered.Add(ts.Reordered)
	d.st.TCPRSTIgnored.Add(ts.RSTIgnored)
}

// InspectWith reads the SIP frames that enter on one port and hands each
// message to the engine, until ctx ends. Each capture worker has its own
// decoder: TCP framing and fragment reassembly state (the capture sends a
// connection's segments, and a datagram's fragments, to one worker); the
// engine is shared. Nothing here allocates per packet. The counters in st
// lag by up to a few hundred frames per worker while it runs, and are
// complete when it returns.
func InspectWith(ctx context.Context, c Capture, dir sip.Direction, e *sip.Engine, st *InspectStats, o InspectOptions) error {
	n := max(c.Workers(), 1)
	ds := make([]*decoder, n)
	for i := range ds {
		ds[i] = newDecoder(dir, e, st, max(4096/n, 1024)) // the connections hash evenly over the workers
		if dir == sip.FromLAN {
			ds[i].outbound = o.Outbound
		}
	}
	defer func() {
		for _, d := range ds {
			d.close()
		}
	}()
	shedAt := ShedAll
	if o.Suspect != nil {
		shedAt = ShedNew
	}
	newSource := func(src netip.Addr) bool { return o.Suspect == nil || !o.Suspect(src) }
	return c.Run(ctx, func(worker int, frame []byte, backlog sip.Backlog) {
		var shed func(netip.Addr) bool
		if backlog > shedAt {
			shed = newSource
		}
		ds[worker].frame(frame, shed)
	})
}

// SustainedLoss is how many WatchDrops periods in a row with a loss make
// it sustained: 30 s with the daemon's period of 10 s.
const SustainedLoss = 3

// isResponse reports whether a UDP payload is a SIP response.
func isResponse(payload []byte) bool {
	return len(payload) >= 8 && string(payload[:8]) == "SIP/2.0 "
}

// WatchDrops polls a capture's loss counters every period, adds them to
// st, and warns when the capture's ring overflowed (detection missed
// frames) or a frame was too large to inspect.
//
// A loss in SustainedLoss periods in a row is sustained: fault, if not
// nil, is told true then, and false after a period without loss.
func WatchDrops(ctx context.Context, log *slog.Logger, c Capture, port string, period time.Duration, st *InspectStats, fault func(sustained bool)) error {
	t := time.NewTicker(period)
	defer t.Stop()
	lossy := 0 // periods in a row with a loss
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
			if cs.Drops+cs.Truncated > 0 {
				lossy++
			} else {
				lossy = 0
			}
			if fault != nil && (lossy == 0 || lossy == SustainedLoss) {
				fault(lossy > 0)
			}
			st.SocketDrops.Add(cs.Drops)
			st.Truncated.Add(cs.Truncated)
			if cs.Drops > 0 {
				log.Warn("capture queue overflowed: frames not inspected", "port", port, "dropped", cs.Drops)
			}
			if cs.Truncated > 0 {
				log.Warn("frames too large for the capture: not inspected", "port", port, "truncated", cs.Truncated)
			}
		}
	}
}
