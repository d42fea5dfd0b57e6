package sip

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Transport protocol numbers.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// Packet is a decoded Ethernet frame carrying UDP or TCP over IPv4 or IPv6.
// Payload points into the frame.
type Packet struct {
	VLAN             uint16 // VLAN ID of a tag still in the frame, 0 if none
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8 // ProtoUDP or ProtoTCP
	TCPSeq           uint32
	TCPFlags         uint8
	Payload          []byte
	// Frag describes the IP fragment the frame carries when Decode
	// returned ErrFragment; it is zero otherwise.
	Frag Fragment
}

// Fragment is one IP fragment of a datagram, as Decode reads it: where
// its data belongs in the datagram's payload (what follows the IPv4
// header, or the IPv6 fragment header) and how the datagram is known.
// Data points into the frame.
type Fragment struct {
	// ID is the IPv4 Identification (16 bits) or the IPv6 fragment
	// header's Identification (32 bits).
	ID uint32
	// Offset is where Data starts in the datagram's payload, in bytes (a
	// multiple of 8).
	Offset uint16
	// More is the More Fragments flag: false on the last fragment.
	More bool
	// Proto is the IPv4 protocol, or the Next Header of the IPv6 fragment
	// header (read from the first fragment only).
	Proto uint8
	// Header is the length of the IP headers that count toward the
	// datagram's 65,535-byte limit with the payload: the IPv4 header, or
	// the IPv6 extension headers up to and including the fragment header.
	Header uint16
	// Data is the fragment's part of the datagram's payload.
	Data []byte
}

// Errors from Decode, fixed values so that returning one does not allocate.
var (
	ErrShort     = errors.New("sip: frame too short for its headers")
	ErrNotIP     = errors.New("sip: not an IPv4 or IPv6 frame")
	ErrNotUDPTCP = errors.New("sip: neither UDP nor TCP")
	ErrFragment  = errors.New("sip: IP fragment (reassemble the datagram to read it)")
	ErrIPHeader  = errors.New("sip: malformed IP header")
)

// Decode decodes an Ethernet frame into p without allocating. It reads
// through up to two VLAN tags left in the frame (the kernel usually takes
// the outer one off and reports it apart), IPv4 options and IPv6 extension
// headers. An IP fragment, first or not, is not read as a transport
// segment: Decode fills p.Frag (and the addresses and VLAN) and returns
// ErrFragment, for a Reassembler to put the datagram back together. An
// IPv6 atomic fragment (offset 0, no more fragments) is a whole packet.
func Decode(frame []byte, p *Packet) error {
	*p = Packet{}
	if len(frame) < 14 {
		return ErrShort
	}
	etherType := binary.BigEndian.Uint16(frame[12:14])
	off := 14
	for tags := 0; (etherType == 0x8100 || etherType == 0x88a8) && tags < 2; tags++ {
		if len(frame) < off+4 {
			return ErrShort
		}
		if p.VLAN == 0 {
			p.VLAN = binary.BigEndian.Uint16(frame[off:off+2]) & 0x0fff
		}
		etherType = binary.BigEndian.Uint16(frame[off+2 : off+4])
		off += 4
	}
	switch etherType {
	case 0x0800:
		return decodeIPv4(frame[off:], p)
	case 0x86dd:
		return decodeIPv6(frame[off:], p)
	}
	return ErrNotIP
}

func decodeIPv4(b []byte, p *Packet) error {
	if len(b) < 20 {
		return ErrShort
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if b[0]>>4 != 4 || ihl < 20 || total < ihl {
		return ErrIPHeader
	}
	if len(b) < total {
		return ErrShort
	}
	b = b[:total] // drop Ethernet padding
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	if frag := binary.BigEndian.Uint16(b[6:8]); frag&0x3fff != 0 { // MF or an offset
		p.Frag = Fragment{
			ID: uint32(binary.BigEndian.Uint16(b[4:6])), Offset: (frag & 0x1fff) << 3, More: frag&0x2000 != 0,
			Proto: b[9], Header: uint16(ihl), Data: b[ihl:],
		}
		return ErrFragment
	}
	return decodeTransport(b[9], b[ihl:], p)
}

func decodeIPv6(b []byte, p *Packet) error {
	if len(b) < 40 {
		return ErrShort
	}
	if b[0]>>4 != 6 {
		return ErrIPHeader
	}
	payload := int(binary.BigEndian.Uint16(b[4:6]))
	if len(b) < 40+payload {
		return ErrShort
	}
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	return decodeIPv6Chain(b[6], b[40:40+payload], p)
}

// decodeIPv6Chain walks the extension headers from next (the type of the
// header rest starts with) to the transport header. rest is the IPv6
// payload, or a reassembled datagram's payload after its fragment header.
func decodeIPv6Chain(next byte, rest []byte, p *Packet) error {
	payload := len(rest)
	for range 8 { // bounded walk through extension headers
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(rest) < 8 {
				return ErrShort
			}
			n := (int(rest[1]) + 1) * 8
			if len(rest) < n {
				return ErrShort
			}
			next, rest = rest[0], rest[n:]
		case 44: // fragment
			if len(rest) < 8 {
				return ErrShort
			}
			frag := binary.BigEndian.Uint16(rest[2:4])
			if frag&0xfff9 != 0 { // an offset or more to come: a real fragment
				p.Frag = Fragment{
					ID: binary.BigEndian.Uint32(rest[4:8]), Offset: frag & 0xfff8, More: frag&1 != 0,
					Proto: rest[0], Header: uint16(payload - len(rest) + 8), Data: rest[8:],
				}
				return ErrFragment
			}
			next, rest = rest[0], rest[8:] // an atomic fragment: the whole packet
		default:
			return decodeTransport(next, rest, p)
		}
	}
	return ErrIPHeader
}

func decodeTransport(proto byte, b []byte, p *Packet) error {
	switch proto {
	case ProtoUDP:
		if len(b) < 8 {
			return ErrShort
		}
		n := int(binary.BigEndian.Uint16(b[4:6]))
		if n < 8 || n > len(b) {
			n = len(b) // a first fragment, or a length we do not trust
		}
		p.Payload = b[8:n]
	case ProtoTCP:
		if len(b) < 20 {
			return ErrShort
		}
		doff := int(b[12]>>4) * 4
		if doff < 20 || doff > len(b) {
			return ErrShort
		}
		p.TCPSeq = binary.BigEndian.Uint32(b[4:8])
		p.TCPFlags = b[13]
		p.Payload = b[doff:]
	default:
		return ErrNotUDPTCP
	}
	p.Proto = proto
	p.SrcPort = binary.BigEndian.Uint16(b[0:2])
	p.DstPort = binary.BigEndian.Uint16(b[2:4])
	return nil
}
