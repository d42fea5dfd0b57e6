package sip

import (
	"net/netip"
	"time"
)

// Verdict is what the box does with the first packet of a source the
// kernel has not judged yet, before it is forwarded.
type Verdict uint8

const (
	// Forward lets the packet through; the source counts as judged.
	Forward Verdict = iota + 1
	// Drop stops the packet: a scanner's User-Agent, or a banned source.
	// The capture sees the packet all the same and bans the source as it
	// always does.
	Drop
)

func (v Verdict) String() string {
	switch v {
	case Forward:
		return "forward"
	case Drop:
		return "drop"
	}
	return "verdict?"
}

// DecodeIP decodes a packet that starts at its IP header (IPv4 or IPv6,
// as netfilter's queue hands it over) into p without allocating, with the
// same rules as Decode.
func DecodeIP(b []byte, p *Packet) error {
	*p = Packet{}
	if len(b) < 1 {
		return ErrShort
	}
	switch b[0] >> 4 {
	case 4:
		return decodeIPv4(b, p)
	case 6:
		return decodeIPv6(b, p)
	}
	return ErrNotIP
}

// FirstPacket judges the first message the box sees from src before it
// is forwarded: a request whose User-Agent is a scanner's under the
// current rules, or any message from a banned source, is dropped; the rest
// is forwarded. The allowlist always forwards, and so does a source the
// PBX accepted within the trust window (a forged scanner packet must not
// cut it off, as in Handle). FirstPacket only judges: it counts nothing
// and emits no decision, since the capture reads the same packet and
// handles it. It does not allocate.
func (e *Engine) FirstPacket(now time.Time, src netip.Addr, m *Message) Verdict {
	src = src.Unmap()
	r := e.rules.Load()
	if r.Allowed != nil && r.Allowed(src) {
		return Forward
	}
	t := now.UnixNano()
	var banned, accepted bool
	e.mu.Lock()
	if s := e.sources.find(keyOf(src, r.prefix(src))); s != nil {
		banned = s.bannedUntil > t
		accepted = s.answeredUntil > t || s.trustedUntil > t
	}
	e.mu.Unlock()
	switch {
	case banned:
		return Drop
	case m.Request && !accepted && len(m.UserAgent) > 0 && r.scanner(m.UserAgent):
		return Drop
	}
	return Forward
}
