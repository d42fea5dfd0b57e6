// Package verdict gives the first packet of a source the box has not
// judged yet its verdict before the kernel forwards it: the kernel queues
// the packet (netfilter.Verdict), the listener reads it from the queue,
// parses its SIP message and asks the detection engine, then drops it (a
// scanner's User-Agent, a banned source) or lets it through with the mark
// that makes the kernel remember the source as judged. Its later packets
// never leave the kernel.
//
// Anything the listener cannot read (an IP fragment, a truncated or
// garbled message) is let through without judging the source: the capture
// reads it as before, and the source's next packet asks again. SIP over
// TCP is not queued: a scanner's first SIP message follows a handshake,
// and the capture bans it from that message on.
package verdict

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

// Judge decides a first packet: the detection engine.
type Judge interface {
	FirstPacket(now time.Time, src netip.Addr, m *sip.Message) sip.Verdict
}

// Packet is one packet waiting in the queue.
type Packet struct {
	ID   uint32 // the kernel's id, for the verdict
	Mark uint32 // the packet's mark as queued
	Data []byte // from the IP header on
}

// Queue is where the packets wait: the kernel's netfilter queue, or a
// fake in tests.
type Queue interface {
	// Run calls fn for each packet, one at a time, until ctx ends or the
	// queue fails.
	Run(ctx context.Context, fn func(Packet)) error
	// Accept lets a packet through with mark as its new mark.
	Accept(id, mark uint32) error
	// Drop drops a packet.
	Drop(id uint32) error
}

// Stats count the listener's verdicts.
type Stats struct {
	Queued   uint64 // packets read from the queue
	Accepted uint64 // forwarded, their source judged
	Dropped  uint64 // dropped: scanner or banned source
	Unread   uint64 // forwarded unjudged: not a SIP datagram the listener could read
	Failed   uint64 // verdicts the kernel did not take
}

// Listener gives the queued packets their verdicts.
type Listener struct {
	judge Judge
	now   func() time.Time

	queued, accepted, dropped, unread, failed atomic.Uint64

	// Scratch space of the one goroutine that reads the queue.
	pkt sip.Packet
	msg sip.Message
}

// New returns a listener asking judge.
func New(judge Judge) *Listener {
	return &Listener{judge: judge, now: time.Now}
}

// Stats returns the counts so far.
func (l *Listener) Stats() Stats {
	return Stats{Queued: l.queued.Load(), Accepted: l.accepted.Load(), Dropped: l.dropped.Load(),
		Unread: l.unread.Load(), Failed: l.failed.Load()}
}

// Run answers q's packets until ctx ends or q fails.
func (l *Listener) Run(ctx context.Context, q Queue) error {
	return q.Run(ctx, func(p Packet) { l.handle(q, p) })
}

// decide returns whether p is forwarded, and whether its source counts as
// judged.
func (l *Listener) decide(p Packet) (forward, judged bool) {
	if sip.DecodeIP(p.Data, &l.pkt) != nil || l.pkt.Proto != sip.ProtoUDP {
		return true, false
	}
	if sip.Parse(l.pkt.Payload, &l.msg) != nil {
		return true, false
	}
	return l.judge.FirstPacket(l.now(), l.pkt.Src, &l.msg) == sip.Forward, true
}

func (l *Listener) handle(q Queue, p Packet) {
	l.queued.Add(1)
	forward, judged := l.decide(p)
	var err error
	switch {
	case !forward:
		l.dropped.Add(1)
		err = q.Drop(p.ID)
	case judged:
		l.accepted.Add(1)
		err = q.Accept(p.ID, p.Mark|netfilter.MarkJudged)
	default:
		l.unread.Add(1)
		err = q.Accept(p.ID, p.Mark)
	}
	if err != nil {
		l.failed.Add(1)
	}
}
