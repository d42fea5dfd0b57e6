// Package sip reads SIP traffic off the wire for the box's detection: it
// parses messages without allocating and judges what they mean for the
// sources that send them.
//
// The parser ([Parse]) fills a caller-owned [Message] with sub-slices of the
// packet it was given: no copy, no string, no map, so that inspecting every
// SIP packet that crosses the box costs a few hundred nanoseconds and no
// garbage. It reads only what detection needs — the request or status line,
// From, To, Call-ID, CSeq, the top Via, User-Agent and Server, Contact,
// credentials, Expires and Content-Length — accepts header names in any case
// and in their compact forms, unfolds folded lines, and rejects garbage and
// truncated messages with an error instead of guessing.
//
// Where real SIP stacks disagree, the parser reads a message as the PBXs
// behind the box do (Kamailio, Asterisk/PJSIP): a bare LF ends a line as
// CRLF does, and of a header that must appear once (From, To, Call-ID, CSeq,
// the top Via) the first occurrence counts.
package sip
