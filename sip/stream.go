package sip

import (
	"bytes"
	"net/netip"
	"time"
)

// Streams cuts SIP messages out of TCP segments, connection by connection:
// several messages in one segment, one message over several, keep-alive
// blank lines between them. Memory is bounded: at most maxFlows
// connections, each buffering at most maxBuffer bytes of an unfinished
// message; idle connections are forgotten. A Streams is not safe for
// concurrent use: give each capture its own.
type Streams struct {
	flows     map[flowKey]*flow
	maxFlows  int
	maxBuffer int
	idle      time.Duration
	stats     StreamStats
}

// StreamStats counts what the framing had to give up on.
type StreamStats struct {
	Messages  uint64 // complete messages handed on
	Resyncs   uint64 // gaps (lost segments) after which the stream restarted
	Overflows uint64 // messages larger than the buffer
	Garbage   uint64 // bytes that were not SIP, dropped
	Evicted   uint64 // connections forgotten to make room
}

type flowKey struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
}

type flow struct {
	buf  []byte
	next uint32 // the sequence number expected next
	seen int64
}

// NewStreams returns a framer for at most maxFlows connections buffering
// at most maxBuffer bytes each.
func NewStreams(maxFlows, maxBuffer int, idle time.Duration) *Streams {
	return &Streams{flows: make(map[flowKey]*flow), maxFlows: max(maxFlows, 1), maxBuffer: max(maxBuffer, 1024), idle: idle}
}

// Stats returns the counters.
func (s *Streams) Stats() StreamStats { return s.stats }

// Feed takes one TCP segment and calls fn with every SIP message it
// completes. A message that fits in the segment is passed without a copy;
// the slice is only valid during the call.
func (s *Streams) Feed(now time.Time, p *Packet, fn func(msg []byte)) {
	k := flowKey{p.Src, p.Dst, p.SrcPort, p.DstPort}
	f := s.flows[k]
	seq := p.TCPSeq
	if p.TCPFlags&tcpSYN != 0 {
		seq++ // the SYN takes one sequence number
	}
	data := p.Payload
	end := seq + uint32(len(data)) // the sequence number after this segment
	if f != nil {
		f.seen = now.UnixNano()
		switch d := int32(seq - f.next); {
		case d < 0: // a retransmission, maybe overlapping new data
			data = data[min(int(-d), len(data)):]
		case d > 0: // a gap: a segment was lost; start again here
			s.stats.Resyncs++
			f.buf = f.buf[:0]
		}
		if int32(end-f.next) > 0 {
			f.next = end
		}
	}
	if len(data) > 0 {
		buffered := f != nil && len(f.buf) > 0
		var rest []byte
		if buffered {
			f.buf = append(f.buf, data...)
			rest = s.frame(f.buf, fn)
		} else {
			rest = s.frame(data, fn) // messages straight from the segment
		}
		if len(rest) > s.maxBuffer {
			s.stats.Overflows++
			rest = nil
		}
		switch {
		case len(rest) > 0 && buffered:
			f.buf = f.buf[:copy(f.buf, rest)] // rest is the tail of f.buf
		case len(rest) > 0:
			if f == nil {
				f = s.add(k, now)
				f.next = end
			}
			f.buf = append(f.buf[:0], rest...)
		case f != nil:
			f.buf = f.buf[:0]
		}
	}
	if f != nil && p.TCPFlags&(tcpFIN|tcpRST) != 0 {
		delete(s.flows, k)
	}
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

func (s *Streams) add(k flowKey, now time.Time) *flow {
	if len(s.flows) >= s.maxFlows {
		s.expire(now)
	}
	f := &flow{seen: now.UnixNano()}
	s.flows[k] = f
	return f
}

// expire forgets idle connections, or the oldest one if none is idle.
func (s *Streams) expire(now time.Time) {
	cut := now.Add(-s.idle).UnixNano()
	var oldest flowKey
	var oldestSeen int64 = 1<<63 - 1
	for k, f := range s.flows {
		if f.seen < cut {
			delete(s.flows, k)
			s.stats.Evicted++
			continue
		}
		if f.seen < oldestSeen {
			oldest, oldestSeen = k, f.seen
		}
	}
	if len(s.flows) >= s.maxFlows {
		delete(s.flows, oldest)
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
