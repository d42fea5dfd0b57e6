package sip

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// frameSpec describes a test frame.
type frameSpec struct {
	tags             []uint16 // TPIDs of VLAN tags in the frame (ID 100 each)
	src, dst         netip.Addr
	proto            uint8
	srcPort, dstPort uint16
	payload          []byte
	fragOffset       uint16 // in 8-byte units
	ext6             []byte // IPv6 extension header types before the transport
}

// build writes the frame. Checksums are left at zero: the decoder and the
// BPF filter do not read them.
func (s frameSpec) build() []byte {
	var l4 []byte
	switch s.proto {
	case ProtoUDP:
		l4 = binary.BigEndian.AppendUint16(nil, s.srcPort)
		l4 = binary.BigEndian.AppendUint16(l4, s.dstPort)
		l4 = binary.BigEndian.AppendUint16(l4, uint16(8+len(s.payload)))
		l4 = append(l4, 0, 0)
	case ProtoTCP:
		l4 = binary.BigEndian.AppendUint16(nil, s.srcPort)
		l4 = binary.BigEndian.AppendUint16(l4, s.dstPort)
		l4 = binary.BigEndian.AppendUint32(l4, 1000) // seq
		l4 = binary.BigEndian.AppendUint32(l4, 0)
		l4 = append(l4, 5<<4, 0x18, 0xff, 0xff, 0, 0, 0, 0) // data offset, PSH|ACK
	default:
		l4 = []byte{8, 0, 0, 0}
	}
	l4 = append(l4, s.payload...)

	f := make([]byte, 12, 128)
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	for _, tpid := range s.tags {
		f = binary.BigEndian.AppendUint16(f, tpid)
		f = binary.BigEndian.AppendUint16(f, 100)
	}
	if s.src.Is4() {
		f = binary.BigEndian.AppendUint16(f, 0x0800)
		ip := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, s.proto, 0, 0}
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		binary.BigEndian.PutUint16(ip[6:], s.fragOffset)
		ip = append(ip, s.src.AsSlice()...)
		ip = append(ip, s.dst.AsSlice()...)
		return append(append(f, ip...), l4...)
	}
	f = binary.BigEndian.AppendUint16(f, 0x86dd)
	var ext []byte
	next := s.proto
	for i := len(s.ext6) - 1; i >= 0; i-- {
		h := make([]byte, 8)
		h[0] = next
		if s.ext6[i] == 44 {
			binary.BigEndian.PutUint16(h[2:], s.fragOffset<<3)
		}
		ext = append(h, ext...)
		next = s.ext6[i]
	}
	ip := []byte{0x60, 0, 0, 0, 0, 0, next, 64}
	binary.BigEndian.PutUint16(ip[4:], uint16(len(ext)+len(l4)))
	ip = append(ip, s.src.AsSlice()...)
	ip = append(ip, s.dst.AsSlice()...)
	return append(append(append(f, ip...), ext...), l4...)
}

var (
	attacker4 = netip.MustParseAddr("203.0.113.66")
	pbx4      = netip.MustParseAddr("192.0.2.10")
	attacker6 = netip.MustParseAddr("2001:db8:bad:1::66")
	pbx6      = netip.MustParseAddr("2001:db8:1::10")
)

func TestDecode(t *testing.T) {
	sipMsg := []byte("OPTIONS sip:100@192.0.2.10 SIP/2.0\r\n")
	for _, c := range []struct {
		name string
		spec frameSpec
		err  error
		vlan uint16
	}{
		{"udp4", frameSpec{src: attacker4, dst: pbx4, proto: ProtoUDP, srcPort: 5071, dstPort: 5060, payload: sipMsg}, nil, 0},
		{"tcp4", frameSpec{src: attacker4, dst: pbx4, proto: ProtoTCP, srcPort: 40000, dstPort: 5060, payload: sipMsg}, nil, 0},
		{"udp6", frameSpec{src: attacker6, dst: pbx6, proto: ProtoUDP, srcPort: 5071, dstPort: 5060, payload: sipMsg}, nil, 0},
		{"tagged", frameSpec{tags: []uint16{0x8100}, src: attacker4, dst: pbx4, proto: ProtoUDP, srcPort: 5071, dstPort: 5060, payload: sipMsg}, nil, 100},
		{"qinq", frameSpec{tags: []uint16{0x88a8, 0x8100}, src: attacker6, dst: pbx6, proto: ProtoTCP, srcPort: 1, dstPort: 5060, payload: sipMsg}, nil, 100},
		{"ext6", frameSpec{src: attacker6, dst: pbx6, proto: ProtoUDP, srcPort: 5071, dstPort: 5060, payload: sipMsg, ext6: []byte{0, 60, 44}}, nil, 0},
		{"frag4", frameSpec{src: attacker4, dst: pbx4, proto: ProtoUDP, srcPort: 5071, dstPort: 5060, payload: sipMsg, fragOffset: 185}, ErrFragment, 0},
		{"frag6", frameSpec{src: attacker6, dst: pbx6, proto: ProtoUDP, payload: sipMsg, ext6: []byte{44}, fragOffset: 185}, ErrFragment, 0},
		{"icmp", frameSpec{src: attacker4, dst: pbx4, proto: 1}, ErrNotUDPTCP, 0},
	} {
		var p Packet
		err := Decode(c.spec.build(), &p)
		if !errors.Is(err, c.err) {
			t.Errorf("%s: Decode = %v, want %v", c.name, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		if p.Src != c.spec.src || p.Dst != c.spec.dst || p.SrcPort != c.spec.srcPort || p.DstPort != c.spec.dstPort ||
			p.Proto != c.spec.proto || string(p.Payload) != string(c.spec.payload) || p.VLAN != c.vlan {
			t.Errorf("%s: decoded %+v", c.name, p)
		}
	}
	for _, short := range [][]byte{nil, make([]byte, 13), frameSpec{src: attacker4, dst: pbx4, proto: ProtoUDP}.build()[:30]} {
		var p Packet
		if err := Decode(short, &p); err == nil {
			t.Errorf("Decode(%d bytes) accepted a short frame", len(short))
		}
	}
	arp := make([]byte, 42)
	arp[12], arp[13] = 0x08, 0x06
	var p Packet
	if err := Decode(arp, &p); !errors.Is(err, ErrNotIP) {
		t.Errorf("ARP: %v", err)
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	frames := [][]byte{
		frameSpec{src: attacker4, dst: pbx4, proto: ProtoUDP, srcPort: 5071, dstPort: 5060, payload: []byte("x")}.build(),
		frameSpec{src: attacker6, dst: pbx6, proto: ProtoTCP, srcPort: 5071, dstPort: 5060, payload: []byte("x"), ext6: []byte{0}}.build(),
	}
	var p Packet
	for _, f := range frames {
		if n := testing.AllocsPerRun(100, func() { _ = Decode(f, &p) }); n != 0 {
			t.Errorf("Decode allocates %v times", n)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(frameSpec{src: attacker4, dst: pbx4, proto: ProtoUDP, srcPort: 5071, dstPort: 5060, payload: []byte("x")}.build())
	f.Add(frameSpec{tags: []uint16{0x8100}, src: attacker6, dst: pbx6, proto: ProtoTCP, payload: []byte("x"), ext6: []byte{0, 44}}.build())
	f.Add(fragFrame(attacker4, pbx4, ProtoUDP, 1, 0, true, udpDatagram(5071, 5060, []byte("REGISTER sip:pbx SIP/2.0\r\n"))))
	f.Add(fragFrame(attacker6, pbx6, ProtoUDP, 1, 1480, false, []byte("Content-Length: 0\r\n\r\n")))
	r := NewReassembler(ReassemblyConfig{MaxDatagrams: 8, MaxBytes: minFragBytes})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		err := Decode(b, &p)
		if err == nil && !within(p.Payload, b) {
			t.Fatal("payload outside the frame")
		}
		if !errors.Is(err, ErrFragment) {
			return
		}
		if !within(p.Frag.Data, b) {
			t.Fatal("fragment data outside the frame")
		}
		// Whatever Decode calls a fragment, the reassembler takes safely.
		if out, _ := r.Add(time.Now(), &p); out != nil && len(out.Payload) > 65535 {
			t.Fatalf("reassembled %d bytes", len(out.Payload))
		}
		if n, held := r.InProgress(); n > 8 || held > minFragBytes {
			t.Fatalf("%d datagrams, %d bytes held", n, held)
		}
	})
}
