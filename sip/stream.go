package sip

import (
	"bytes"
	"net/netip"
	"slices"
	"time"
)

// Streams cuts SIP messages out of TCP segments, connection by connection:
// several messages in one segment, one message over several, keep-alive
// blank lines between them. Segments that arrive early (after a gap) wait
// in a small queue per connection until the gap is filled, and data
// already seen is never handed on twice: a retransmission, or a segment
// overlapping data held, gives only its new bytes (the first copy of any
// byte wins). A reset ends a connection only when its sequence number is
// exactly where the stream stands (RFC 5961); a FIN ends it once the data
// before it has been read.
//
// Memory is bounded: at most maxFlows connections, each buffering at most
// maxBuffer bytes of an unfinished message and holding at most
// maxEarlySegments early segments of at most maxBuffer bytes together
// (and earlyBudget bytes over all connections); idle connections are
// forgotten. A gap not filled within gapWait, or too big for the queue, is
// given up: the stream goes on after it (a resync). A Streams is not safe
// for concurrent use: give each capture its own.
type Streams struct {
	flows     map[flowKey]*flow
	spare     []*flow // forgotten connections' state, for reuse
	maxFlows  int
	maxBuffer int
	idle      time.Duration
	early     int // bytes of early segments held, all connections
	stats     StreamStats
}

// StreamStats counts what the framing did and had to give up on.
type StreamStats struct {
	Messages   uint64 // complete messages handed on
	Resyncs    uint64 // gaps (lost segments) given up on, after which the stream restarted
	Overflows  uint64 // messages larger than the buffer
	Garbage    uint64 // bytes that were not SIP, dropped
	Evicted    uint64 // connections forgotten to make room
	Reordered  uint64 // segments that arrived early and were put back in order
	RSTIgnored uint64 // resets not at the stream's sequence number, ignored
}

// Limits of the queue of early segments.
const (
	maxEarlySegments = 8
	earlyBudget      = 4 << 20
	gapWait          = 2 * time.Second
)

type flowKey struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
}

type flow struct {
	buf      []byte
	next     uint32 // the sequence number expected next
	high     uint32 // the end of the highest data seen, early segments included
	finSeq   uint32 // where the FIN stands, when fin
	fin      bool
	seen     int64
	gapSince int64     // when the oldest early segment came
	earlyLen int       // bytes in early
	early    []segment // sorted, not overlapping, all after next
}

// segment is an early segment's data, copied.
type segment struct {
	seq  uint32
	data []byte
}

func (sg segment) end() uint32 { return sg.seq + uint32(len(sg.data)) }

// after reports whether sequence number a comes after b (RFC 1982).
func after(a, b uint32) bool { return int32(a-b) > 0 }

// NewStreams returns a framer for at most maxFlows connections buffering
// at most maxBuffer bytes each.
func NewStreams(maxFlows, maxBuffer int, idle time.Duration) *Streams {
	return &Streams{flows: make(map[flowKey]*flow), maxFlows: max(maxFlows, 1), maxBuffer: max(maxBuffer, 1024), idle: idle}
}

// Stats returns the counters.
func (s *Streams) Stats() StreamStats { return s.stats }

// Feed takes one TCP segment and calls fn with every SIP message it
// completes. A message that fits in an in-order segment is passed without
// a copy; the slice is only valid during the call.
func (s *Streams) Feed(now time.Time, p *Packet, fn func(msg []byte)) {
	k := flowKey{p.Src, p.Dst, p.SrcPort, p.DstPort}
	f := s.flows[k]
	t := now.UnixNano()
	seq, data := p.TCPSeq, p.Payload
	if p.TCPFlags&tcpRST != 0 {
		if f == nil {
			return
		}
		// Linux resets only at rcv_nxt and answers any other reset in its
		// window with a challenge ACK; the box knows where the stream
		// stands, or where the data it has seen ends.
		if seq == f.next || seq == f.high || (f.fin && seq == f.finSeq+1) {
			s.forget(k, f)
		} else {
			s.stats.RSTIgnored++
		}
		return
	}
	if p.TCPFlags&tcpSYN != 0 {
		seq++ // the SYN takes one sequence number
		switch {
		case f == nil:
			f = s.add(k, t)
			f.next, f.high = seq, seq
		case seq != f.next: // the ports reused for a new connection
			s.restart(f, seq)
		}
	}
	end := seq + uint32(len(data))
	if f == nil {
		// A connection first seen mid-stream: it starts here.
		if len(data) == 0 {
			return
		}
		rest := s.frame(data, fn)
		if p.TCPFlags&tcpFIN != 0 {
			return
		}
		f = s.add(k, t)
		f.next, f.high = end, end
		s.keep(f, rest, false)
		return
	}
	f.seen = t
	if p.TCPFlags&tcpFIN != 0 && (!f.fin || after(f.finSeq, end)) {
		f.fin, f.finSeq = true, end
	}
	if len(f.early) > 0 && t-f.gapSince > int64(gapWait) {
		s.skipGap(f, fn) // the missing segment is not coming
	}
	if after(seq, f.next) && len(data) > 0 && !s.queue(f, seq, data, t) {
		// No room to wait for the gap: give it up, with what came before.
		if len(f.early) > 0 {
			s.skipGap(f, fn)
		}
		if after(seq, f.next) && !s.queue(f, seq, data, t) {
			s.stats.Resyncs++
			f.buf = f.buf[:0]
			f.next = seq
		}
	}
	for !after(seq, f.next) && after(end, f.next) {
		// In order, or a retransmission with new data: only what comes
		// after f.next is new, and up to the first early segment, whose
		// bytes came first.
		data = data[f.next-seq:]
		seq = f.next
		upto := end
		if len(f.early) > 0 && after(end, f.early[0].seq) {
			upto = f.early[0].seq
		}
		if upto != seq {
			s.deliver(f, data[:upto-seq], fn)
			f.next = upto
		}
		s.drain(f, fn)
	}
	if after(end, f.high) {
		f.high = end
	}
	if f.fin && !after(f.finSeq, f.next) {
		s.forget(k, f) // everything before the FIN has been read
	}
}

// deliver frames in-order data after what the connection has buffered.
func (s *Streams) deliver(f *flow, data []byte, fn func([]byte)) {
	buffered := len(f.buf) > 0
	var rest []byte
	if buffered {
		f.buf = append(f.buf, data...)
		rest = s.frame(f.buf, fn)
	} else {
		rest = s.frame(data, fn) // messages straight from the segment
	}
	s.keep(f, rest, buffered)
}

// keep buffers rest, the start of an unfinished message; when buffered,
// rest is the tail of f.buf.
func (s *Streams) keep(f *flow, rest []byte, buffered bool) {
	if len(rest) > s.maxBuffer {
		s.stats.Overflows++
		rest = nil
	}
	switch {
	case len(rest) > 0 && buffered:
		f.buf = f.buf[:copy(f.buf, rest)]
	case len(rest) > 0:
		f.buf = append(f.buf[:0], rest...)
	default:
		f.buf = f.buf[:0]
	}
}

// queue holds the parts of an early segment that no early segment holds
// yet. It reports false, holding nothing, when they do not fit.
func (s *Streams) queue(f *flow, seq uint32, data []byte, t int64) bool {
	var parts [maxEarlySegments + 1]segment
	n, size := 0, 0
	pos, end := seq, seq+uint32(len(data))
	for _, sg := range f.early {
		if !after(end, pos) {
			break
		}
		if !after(sg.end(), pos) {
			continue
		}
		if after(sg.seq, pos) {
			stop := sg.seq
			if after(stop, end) {
				stop = end
			}
			parts[n] = segment{pos, data[pos-seq : stop-seq]}
			n, size = n+1, size+int(stop-pos)
		}
		pos = sg.end()
	}
	if after(end, pos) {
		parts[n] = segment{pos, data[pos-seq:]}
		n, size = n+1, size+int(end-pos)
	}
	if n == 0 {
		return true // all held already
	}
	if len(f.early)+n > maxEarlySegments || f.earlyLen+size > s.maxBuffer || s.early+size > earlyBudget {
		return false
	}
	if len(f.early) == 0 {
		f.gapSince = t
	}
	for _, part := range parts[:n] {
		at := 0
		for at < len(f.early) && after(part.seq, f.early[at].seq) {
			at++
		}
		f.early = slices.Insert(f.early, at, segment{part.seq, bytes.Clone(part.data)})
	}
	f.earlyLen += size
	s.early += size
	return true
}

// drain hands on the early segments the stream has now reached.
func (s *Streams) drain(f *flow, fn func([]byte)) {
	for len(f.early) > 0 && !after(f.early[0].seq, f.next) {
		sg := f.early[0]
		f.early = f.early[:copy(f.early, f.early[1:])]
		f.earlyLen -= len(sg.data)
		s.early -= len(sg.data)
		s.stats.Reordered++
		if d := int(f.next - sg.seq); d < len(sg.data) {
			s.deliver(f, sg.data[d:], fn)
			f.next = sg.end()
		}
	}
}

// skipGap gives up the data missing before the first early segment: the
// unfinished message before the gap is dropped and the stream goes on
// from there.
func (s *Streams) skipGap(f *flow, fn func([]byte)) {
	s.stats.Resyncs++
	f.buf = f.buf[:0]
	f.next = f.early[0].seq
	s.drain(f, fn)
}

// restart clears a connection's state for a new stream at seq.
func (s *Streams) restart(f *flow, seq uint32) {
	s.early -= f.earlyLen
	clear(f.early)
	*f = flow{buf: f.buf[:0], early: f.early[:0], seen: f.seen, next: seq, high: seq}
}

// frame calls fn for each complete message at the start of b and returns
// what remains: the start of an unfinished message, or nothing.
func (s *Streams) frame(b []byte, fn func([]byte)) []byte {
	var m Message
	for {
		for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') { // keep-alives
			b = b[1:]
		}
		if len(b) == 0 {
			return nil
		}
		if !bytes.Contains(b, endCRLF) && !bytes.Contains(b, endLF) {
			return b // headers not complete yet
		}
		if err := Parse(b, &m); err != nil {
			s.stats.Garbage += uint64(len(b))
			return nil
		}
		n := m.BodyOffset + max(m.ContentLength, 0)
		if n > len(b) {
			return b // body not complete yet
		}
		s.stats.Messages++
		fn(b[:n])
		b = b[n:]
	}
}

func (s *Streams) add(k flowKey, t int64) *flow {
	if len(s.flows) >= s.maxFlows {
		s.expire(t)
	}
	var f *flow
	if n := len(s.spare); n > 0 {
		f, s.spare = s.spare[n-1], s.spare[:n-1]
	} else {
		f = &flow{}
	}
	f.seen = t
	s.flows[k] = f
	return f
}

// forget drops a connection and keeps its state for reuse.
func (s *Streams) forget(k flowKey, f *flow) {
	delete(s.flows, k)
	s.restart(f, 0)
	if cap(f.buf) > 4096 {
		f.buf = nil // do not keep a large message's buffer
	}
	if len(s.spare) < 64 {
		s.spare = append(s.spare, f)
	}
}

// expireSample is how many connections expire looks at to make room.
const expireSample = 32

// expire forgets idle connections among a sample of them (the map's order
// is random), or the oldest of the sample if none is idle: the cost of
// making room does not grow with the table.
func (s *Streams) expire(t int64) {
	cut := t - int64(s.idle)
	var oldest flowKey
	var oldestFlow *flow
	n := 0
	for k, f := range s.flows {
		if f.seen < cut {
			s.forget(k, f)
			s.stats.Evicted++
		} else if oldestFlow == nil || f.seen < oldestFlow.seen {
			oldest, oldestFlow = k, f
		}
		if n++; n == expireSample {
			break
		}
	}
	if len(s.flows) >= s.maxFlows && oldestFlow != nil {
		s.forget(oldest, oldestFlow)
		s.stats.Evicted++
	}
}

// The blank line that ends the headers, with CRLF or bare LF line ends.
var endCRLF, endLF = []byte("\n\r\n"), []byte("\n\n")

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
)
