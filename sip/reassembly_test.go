package sip

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"

	"github.com/sipguard/sipguard/sip/portrange"
)

// fragFrame builds an Ethernet frame carrying one IP fragment: data at
// byte offset off (a multiple of 8) of the datagram's payload.
func fragFrame(src, dst netip.Addr, proto uint8, id uint32, off int, more bool, data []byte) []byte {
	f := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}
	if src.Is4() {
		f = append(f, 0x08, 0x00)
		ip := []byte{0x45, 0, 0, 0, byte(id >> 8), byte(id), 0, 0, 64, proto, 0, 0}
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(data)))
		fo := uint16(off >> 3)
		if more {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(ip[6:], fo)
		ip = append(append(ip, src.AsSlice()...), dst.AsSlice()...)
		return append(append(f, ip...), data...)
	}
	f = append(f, 0x86, 0xdd)
	ip := []byte{0x60, 0, 0, 0, 0, 0, 44, 64}
	binary.BigEndian.PutUint16(ip[4:], uint16(8+len(data)))
	ip = append(append(ip, src.AsSlice()...), dst.AsSlice()...)
	fh := []byte{proto, 0, 0, 0, 0, 0, 0, 0}
	fo := uint16(off) &^ 7
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(fh[2:], fo)
	binary.BigEndian.PutUint32(fh[4:], id)
	return append(append(append(f, ip...), fh...), data...)
}

// udpDatagram is a UDP header and payload, checksum left at zero.
func udpDatagram(sport, dport uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	return append(append(b, 0, 0), payload...)
}

// fragmentOf cuts a datagram's payload into frames of at most size bytes
// of data each (size a multiple of 8), in order.
func fragmentOf(src, dst netip.Addr, proto uint8, id uint32, dgram []byte, size int) [][]byte {
	var frames [][]byte
	for off := 0; off < len(dgram); off += size {
		end := min(off+size, len(dgram))
		frames = append(frames, fragFrame(src, dst, proto, id, off, end < len(dgram), dgram[off:end]))
	}
	return frames
}

// bigRegister is a REGISTER padded past the MTU with a long header, the
// credentials behind the padding.
func bigRegister(n int) []byte {
	head := "REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bKfrag\r\nFrom: <sip:1001@pbx>;tag=1\r\nTo: <sip:1001@pbx>\r\nCall-ID: frag-1\r\nCSeq: 2 REGISTER\r\n"
	tail := "User-Agent: friendly-scanner\r\nAuthorization: Digest username=\"1001\", realm=\"pbx\", response=\"x\"\r\nContent-Length: 0\r\n\r\n"
	return []byte(head + "X-Padding: " + strings.Repeat("p", max(n-len(head)-len(tail)-13, 0)) + "\r\n" + tail)
}

// feedFrames decodes each frame and gives it to r, returning the last
// datagram completed (as a copy) and the errors Add returned.
func feedFrames(t testing.TB, r *Reassembler, now time.Time, frames [][]byte) (*Packet, []error) {
	t.Helper()
	var done *Packet
	var errs []error
	for _, f := range frames {
		var p Packet
		if err := Decode(f, &p); !errors.Is(err, ErrFragment) {
			t.Fatalf("Decode = %v, want ErrFragment", err)
		}
		out, err := r.Add(now, &p)
		if err != nil {
			errs = append(errs, err)
		}
		if out != nil {
			c := *out
			c.Payload = slices.Clone(out.Payload)
			done = &c
		}
	}
	return done, errs
}

type family struct {
	name     string
	src, dst netip.Addr
}

var families = []family{{"ipv4", attacker4, pbx4}, {"ipv6", attacker6, pbx6}}

func TestDecodeFragment(t *testing.T) {
	dgram := udpDatagram(5071, 5060, bigRegister(3000))
	for _, fam := range families {
		frames := fragmentOf(fam.src, fam.dst, ProtoUDP, 0x1234, dgram, 1480)
		for i, f := range frames {
			var p Packet
			if err := Decode(f, &p); !errors.Is(err, ErrFragment) {
				t.Fatalf("%s fragment %d: Decode = %v", fam.name, i, err)
			}
			fr := p.Frag
			wantHeader := uint16(20)
			if fam.src.Is6() {
				wantHeader = 8
			}
			if fr.ID != 0x1234 || int(fr.Offset) != i*1480 || fr.More != (i < len(frames)-1) || fr.Proto != ProtoUDP ||
				fr.Header != wantHeader || string(fr.Data) != string(dgram[i*1480:min((i+1)*1480, len(dgram))]) ||
				p.Src != fam.src || p.Dst != fam.dst || p.Payload != nil || !within(fr.Data, f) {
				t.Errorf("%s fragment %d: %+v", fam.name, i, p)
			}
		}
	}
	// An IPv6 atomic fragment (RFC 6946) is a whole packet.
	atomic := fragFrame(attacker6, pbx6, ProtoUDP, 7, 0, false, udpDatagram(5071, 5060, []byte("x")))
	var p Packet
	if err := Decode(atomic, &p); err != nil || string(p.Payload) != "x" || p.Frag.Data != nil {
		t.Errorf("atomic fragment: %v %+v", err, p)
	}
	var frags [][]byte
	for _, fam := range families {
		frags = append(frags, fragmentOf(fam.src, fam.dst, ProtoUDP, 9, dgram, 1480)...)
	}
	for _, f := range frags {
		if n := testing.AllocsPerRun(100, func() { _ = Decode(f, &p) }); n != 0 {
			t.Errorf("Decode allocates %v times on a fragment", n)
		}
	}
}

func TestReassembleOrders(t *testing.T) {
	msg := bigRegister(3000)
	dgram := udpDatagram(5071, 5060, msg)
	for _, fam := range families {
		in := fragmentOf(fam.src, fam.dst, ProtoUDP, 77, dgram, 1480)
		reversed := slices.Clone(in)
		slices.Reverse(reversed)
		dup := [][]byte{in[0], in[1], in[1], in[0], in[2]}
		small := fragmentOf(fam.src, fam.dst, ProtoUDP, 77, dgram, 64) // 48 fragments, shuffled below
		shuffled := make([][]byte, 0, len(small))
		for i := range 8 {
			for j := i; j < len(small); j += 8 {
				shuffled = append(shuffled, small[j])
			}
		}
		for _, c := range []struct {
			name   string
			frames [][]byte
			dups   uint64
		}{{"in order", in, 0}, {"reversed", reversed, 0}, {"duplicated", dup, 2}, {"shuffled", shuffled, 0}} {
			r := NewReassembler(ReassemblyConfig{})
			got, errs := feedFrames(t, r, time.Now(), c.frames)
			if got == nil || len(errs) != 0 {
				t.Fatalf("%s %s: not reassembled (%v)", fam.name, c.name, errs)
			}
			if string(got.Payload) != string(msg) || got.Src != fam.src || got.Dst != fam.dst ||
				got.SrcPort != 5071 || got.DstPort != 5060 || got.Proto != ProtoUDP {
				t.Errorf("%s %s: reassembled %v→%v %d→%d, %d bytes", fam.name, c.name, got.Src, got.Dst, got.SrcPort, got.DstPort, len(got.Payload))
			}
			var m Message
			if err := Parse(got.Payload, &m); err != nil || string(m.UserAgent) != "friendly-scanner" || string(m.CallID) != "frag-1" {
				t.Errorf("%s %s: parse %v, User-Agent %q", fam.name, c.name, err, m.UserAgent)
			}
			st := r.Stats()
			if st.Reassembled != 1 || st.Duplicates != c.dups || st.Fragments != uint64(len(c.frames)) {
				t.Errorf("%s %s: stats %+v", fam.name, c.name, st)
			}
			if n, b := r.InProgress(); n != 0 || b != 0 {
				t.Errorf("%s %s: %d datagrams, %d bytes still held", fam.name, c.name, n, b)
			}
		}
	}
}

func TestReassembleOverlap(t *testing.T) {
	msg := bigRegister(3000)
	dgram := udpDatagram(5071, 5060, msg)
	for _, fam := range families {
		in := fragmentOf(fam.src, fam.dst, ProtoUDP, 5, dgram, 1480)

		// A duplicate with other bytes: the first copy stays, as on Linux.
		other := slices.Clone(dgram[1480:2960])
		copy(other[100:], "friendly-scanner")
		forged := fragFrame(fam.src, fam.dst, ProtoUDP, 5, 1480, true, other)
		r := NewReassembler(ReassemblyConfig{})
		got, errs := feedFrames(t, r, time.Now(), [][]byte{in[0], in[1], forged, in[2]})
		if got == nil || string(got.Payload) != string(msg) || len(errs) != 0 {
			t.Errorf("%s: a forged duplicate changed the datagram (%v)", fam.name, errs)
		}
		if st := r.Stats(); st.Duplicates != 1 || st.Conflicts != 1 {
			t.Errorf("%s: stats %+v", fam.name, st)
		}

		// A fragment straddling data held and new data: the datagram goes.
		straddle := fragFrame(fam.src, fam.dst, ProtoUDP, 5, 1000, true, dgram[1000:2000])
		r = NewReassembler(ReassemblyConfig{})
		got, errs = feedFrames(t, r, time.Now(), [][]byte{in[0], straddle, in[1], in[2]})
		if got != nil {
			t.Errorf("%s: reassembled a datagram with overlapping fragments", fam.name)
		}
		if len(errs) != 1 || !errors.Is(errs[0], ErrFragOverlap) {
			t.Errorf("%s: errors %v", fam.name, errs)
		}
		if st := r.Stats(); st.Overlaps != 1 || st.Reassembled != 0 {
			t.Errorf("%s: stats %+v", fam.name, st)
		}
	}
}

func TestReassembleTimeout(t *testing.T) {
	dgram := udpDatagram(5071, 5060, bigRegister(3000))
	start := time.Now()
	for _, fam := range families {
		in := fragmentOf(fam.src, fam.dst, ProtoUDP, 6, dgram, 1480)
		for _, c := range []struct {
			after    time.Duration
			complete bool
		}{{29 * time.Second, true}, {31 * time.Second, fam.src.Is6()}, {61 * time.Second, false}} {
			r := NewReassembler(ReassemblyConfig{})
			feedFrames(t, r, start, in[:1])
			got, _ := feedFrames(t, r, start.Add(c.after), in[1:])
			if (got != nil) != c.complete {
				t.Errorf("%s after %v: reassembled %v, want %v", fam.name, c.after, got != nil, c.complete)
			}
			if st := r.Stats(); (st.Timeouts == 1) == c.complete {
				t.Errorf("%s after %v: stats %+v", fam.name, c.after, st)
			}
		}
	}
}

func TestReassembleBounded(t *testing.T) {
	dgram := udpDatagram(5071, 5060, bigRegister(3000))
	now := time.Now()

	// Table full: the oldest datagram in progress is given up.
	r := NewReassembler(ReassemblyConfig{MaxDatagrams: 4})
	var firsts [][]byte
	for id := range uint32(5) {
		firsts = append(firsts, fragmentOf(attacker4, pbx4, ProtoUDP, id, dgram, 1480)[0])
	}
	feedFrames(t, r, now, firsts)
	if n, _ := r.InProgress(); n != 4 || r.Stats().Evicted != 1 {
		t.Errorf("%d in progress, stats %+v", n, r.Stats())
	}
	if got, _ := feedFrames(t, r, now, fragmentOf(attacker4, pbx4, ProtoUDP, 0, dgram, 1480)[1:]); got != nil {
		t.Error("the evicted datagram was completed")
	}
	if got, _ := feedFrames(t, r, now, fragmentOf(attacker4, pbx4, ProtoUDP, 4, dgram, 1480)[1:]); got == nil {
		t.Error("the newest datagram was not completed")
	}

	// Memory pressure: a flood of fragments, each holding pages, never
	// grows the arena, and a datagram sent after it still completes.
	r = NewReassembler(ReassemblyConfig{MaxDatagrams: 1024, MaxBytes: 256 << 10})
	junk := make([]byte, 1480)
	for i := range 5000 {
		src := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		f := fragFrame(src, pbx4, ProtoUDP, uint32(i), 8*(i%7000), true, junk)
		feedFrames(t, r, now, [][]byte{f})
		if _, b := r.InProgress(); b > 256<<10 {
			t.Fatalf("%d bytes held", b)
		}
	}
	if got, _ := feedFrames(t, r, now, fragmentOf(attacker6, pbx6, ProtoUDP, 1, dgram, 1232)); got == nil {
		t.Error("a datagram after the flood was not reassembled")
	}
	if st := r.Stats(); st.Evicted == 0 || st.Reassembled != 1 {
		t.Errorf("stats %+v", st)
	}

	// Too big: data past 65,535 bytes discards the datagram.
	r = NewReassembler(ReassemblyConfig{})
	_, errs := feedFrames(t, r, now, [][]byte{
		fragmentOf(attacker4, pbx4, ProtoUDP, 9, dgram, 1480)[0],
		fragFrame(attacker4, pbx4, ProtoUDP, 9, 65000, false, make([]byte, 600)),
	})
	if len(errs) != 1 || !errors.Is(errs[0], ErrFragTooBig) || r.Stats().TooBig != 1 {
		t.Errorf("too big: %v %+v", errs, r.Stats())
	}
	if n, _ := r.InProgress(); n != 0 {
		t.Error("a too-big datagram is still held")
	}
}

func TestReassembleMalformed(t *testing.T) {
	dgram := udpDatagram(5071, 5060, bigRegister(3000))
	in := fragmentOf(attacker4, pbx4, ProtoUDP, 3, dgram, 1480)
	longer := slices.Clone(dgram) // a UDP length past the datagram's end
	binary.BigEndian.PutUint16(longer[4:], uint16(len(dgram)+8))
	for _, c := range []struct {
		name   string
		frames [][]byte
		err    error
	}{
		{"two ends", [][]byte{in[2], fragFrame(attacker4, pbx4, ProtoUDP, 3, 2960, false, dgram[2960:2968])}, ErrFragMalformed},
		{"data past the end", [][]byte{in[2], fragFrame(attacker4, pbx4, ProtoUDP, 3, 2960, true, append(slices.Clone(dgram[2960:]), make([]byte, 64)...))}, ErrFragMalformed},
		{"empty", [][]byte{in[0], fragFrame(attacker4, pbx4, ProtoUDP, 3, 1480, true, nil)}, ErrFragMalformed},
		{"ipv6 not a multiple of 8", [][]byte{fragFrame(attacker6, pbx6, ProtoUDP, 3, 0, true, dgram[:1001])}, ErrFragMalformed},
		{"udp length", fragmentOf(attacker4, pbx4, ProtoUDP, 3, longer, 1480), ErrFragDatagram},
	} {
		r := NewReassembler(ReassemblyConfig{})
		got, errs := feedFrames(t, r, time.Now(), c.frames)
		if got != nil || len(errs) != 1 || !errors.Is(errs[0], c.err) || r.Stats().Malformed != 1 {
			t.Errorf("%s: got %v, errors %v, stats %+v", c.name, got != nil, errs, r.Stats())
		}
	}
	// IPv4 cuts a non-last fragment to a multiple of 8 bytes, as Linux does:
	// the 3 bytes over come again in the next fragment.
	r := NewReassembler(ReassemblyConfig{})
	got, errs := feedFrames(t, r, time.Now(), [][]byte{
		fragFrame(attacker4, pbx4, ProtoUDP, 4, 0, true, dgram[:1483]),
		fragFrame(attacker4, pbx4, ProtoUDP, 4, 1480, false, dgram[1480:]),
	})
	if got == nil || len(errs) != 0 || r.Stats().Duplicates != 0 {
		t.Errorf("ragged IPv4 fragment: %v %+v", errs, r.Stats())
	}
}

// TestReassembleTCP: a TCP segment sent in fragments comes out as one.
func TestReassembleTCP(t *testing.T) {
	payload := bigRegister(2500)
	tcp := binary.BigEndian.AppendUint16(nil, 40000)
	tcp = binary.BigEndian.AppendUint16(tcp, 5060)
	tcp = binary.BigEndian.AppendUint32(tcp, 1000)
	tcp = binary.BigEndian.AppendUint32(tcp, 0)
	tcp = append(tcp, 5<<4, 0x18, 0xff, 0xff, 0, 0, 0, 0)
	tcp = append(tcp, payload...)
	for _, fam := range families {
		r := NewReassembler(ReassemblyConfig{})
		got, errs := feedFrames(t, r, time.Now(), fragmentOf(fam.src, fam.dst, ProtoTCP, 8, tcp, 1480))
		if got == nil || got.Proto != ProtoTCP || got.TCPSeq != 1000 || string(got.Payload) != string(payload) || len(errs) != 0 {
			t.Errorf("%s: %v", fam.name, errs)
		}
	}
}

// TestReassembleAllocatesNothing: once its memory is taken, reassembly
// allocates nothing per fragment.
func TestReassembleAllocatesNothing(t *testing.T) {
	dgram := udpDatagram(5071, 5060, bigRegister(3000))
	var packets []Packet
	for _, fam := range families {
		for _, f := range fragmentOf(fam.src, fam.dst, ProtoUDP, 11, dgram, 1480) {
			var p Packet
			_ = Decode(f, &p)
			packets = append(packets, p)
		}
	}
	r := NewReassembler(ReassemblyConfig{})
	now := time.Now()
	done := 0
	run := func() {
		for i := range packets {
			if out, _ := r.Add(now, &packets[i]); out != nil {
				done++
			}
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("reassembly allocates %v times", n)
	}
	if done != 2*102 {
		t.Errorf("%d datagrams reassembled", done)
	}
}

// TestFilterPassesFragments: the capture filter lets every fragment of a
// SIP datagram through: the first carries the ports, the others are
// passed whole for the reassembler.
func TestFilterPassesFragments(t *testing.T) {
	prog, err := Filter([]portrange.Range{{First: 5060, Last: 5060}}, true, true)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	dgram := udpDatagram(40000, 5060, bigRegister(3000))
	tagged := func(f []byte) []byte {
		return slices.Concat(f[:12], []byte{0x81, 0x00, 0, 100}, f[12:])
	}
	for _, fam := range families {
		for i, f := range fragmentOf(fam.src, fam.dst, ProtoUDP, 1, dgram, 1480) {
			for _, frame := range [][]byte{f, tagged(f)} {
				if n, err := vm.Run(frame); err != nil || n == 0 {
					t.Errorf("%s fragment %d (%d bytes) dropped by the filter", fam.name, i, len(frame))
				}
			}
		}
	}
	// The first fragment of another port's datagram is not SIP.
	other := fragmentOf(attacker4, pbx4, ProtoUDP, 2, udpDatagram(40000, 53, bigRegister(3000)), 1480)[0]
	if n, _ := vm.Run(other); n != 0 {
		t.Error("the first fragment of a datagram to port 53 passed")
	}
}

// FuzzReassemble cuts a datagram into fragments as the input says (sizes,
// order, repeats, overlaps) and feeds them, with a stray fragment or two
// of another datagram: the reassembler must not panic, must stay within
// its memory, and whatever it completes must be the datagram sent.
func FuzzReassemble(f *testing.F) {
	f.Add([]byte("REGISTER sip:pbx SIP/2.0\r\n\r\n"), []byte{185, 1, 0, 0, 2, 3}, false)
	f.Add([]byte(strings.Repeat("x", 3000)), []byte{100, 200, 185, 185, 0, 0, 1, 1}, true)
	f.Fuzz(func(t *testing.T, payload, plan []byte, six bool) {
		if len(payload) > 65000 || len(plan) > 64 {
			return
		}
		src, dst := attacker4, pbx4
		if six {
			src, dst = attacker6, pbx6
		}
		dgram := udpDatagram(5071, 5060, payload)
		r := NewReassembler(ReassemblyConfig{MaxDatagrams: 4, MaxBytes: minFragBytes})
		now := time.Now()
		for i := 0; i+1 < len(plan); i += 2 {
			off := int(plan[i]) * 8 * 8 % len(dgram) &^ 7
			size := (int(plan[i+1])%32 + 1) * 8 * 8
			end := min(off+size, len(dgram))
			id := uint32(1)
			if plan[i+1]&0x80 != 0 {
				id = 2 // a stray of another datagram
			}
			frame := fragFrame(src, dst, ProtoUDP, id, off, end < len(dgram), dgram[off:end])
			var p Packet
			if err := Decode(frame, &p); err != nil {
				if !errors.Is(err, ErrFragment) {
					continue
				}
			} else {
				continue // the whole datagram in one: not a fragment
			}
			out, _ := r.Add(now, &p)
			if out != nil && string(out.Payload) != string(payload) {
				t.Fatalf("reassembled %d bytes that differ from the %d sent", len(out.Payload), len(payload))
			}
			if n, b := r.InProgress(); n > 4 || b > minFragBytes {
				t.Fatalf("%d datagrams, %d bytes held", n, b)
			}
			now = now.Add(time.Second)
		}
	})
}

// BenchmarkReassemble puts 3,000-byte REGISTERs (3 fragments each over a
// 1500-byte MTU) back together, one datagram per op.
func BenchmarkReassemble(b *testing.B) {
	for _, fam := range families {
		b.Run(fam.name, func(b *testing.B) {
			dgram := udpDatagram(5071, 5060, bigRegister(3000))
			var frames [][]byte
			for id := range uint32(64) {
				frames = append(frames, fragmentOf(fam.src, fam.dst, ProtoUDP, id, dgram, 1480)...)
			}
			r := NewReassembler(ReassemblyConfig{})
			now := time.Now()
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(dgram)))
			i, done := 0, 0
			for b.Loop() {
				for range 3 {
					if err := Decode(frames[i], &p); !errors.Is(err, ErrFragment) {
						b.Fatal(err)
					}
					if out, _ := r.Add(now, &p); out != nil {
						done++
					}
					i = (i + 1) % len(frames)
				}
			}
			if done == 0 {
				b.Fatal("nothing reassembled")
			}
		})
	}
}

// BenchmarkDecodeUnfragmented is the common path, for comparison: a whole
// UDP datagram decoded, nothing for the reassembler.
func BenchmarkDecodeUnfragmented(b *testing.B) {
	frame := frameSpec{src: attacker4, dst: pbx4, proto: ProtoUDP, srcPort: 5071, dstPort: 5060, payload: bigRegister(1200)}.build()
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(frame, &p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReassemblerIndex churns the hash table of datagrams in progress
// (creation, completion, eviction, timeout) and checks after each step
// that every datagram held is found under its key and no other.
func TestReassemblerIndex(t *testing.T) {
	r := NewReassembler(ReassemblyConfig{MaxDatagrams: 16})
	now := time.Now()
	data := make([]byte, 64)
	for i := range 3000 {
		id := uint32(i*7919) % 40
		more := i%5 != 0
		f := fragFrame(attacker4, pbx4, ProtoUDP, id, 8*(i%3), more, data)
		var p Packet
		if err := Decode(f, &p); !errors.Is(err, ErrFragment) {
			continue
		}
		_, _ = r.Add(now, &p)
		if i%97 == 0 {
			now = now.Add(10 * time.Second)
		}
		live := 0
		for s := int32(1); s < int32(len(r.slots)); s++ {
			if slices.Contains(r.free, s) {
				continue
			}
			live++
			if got := r.lookup(r.slots[s].key); got != s {
				t.Fatalf("step %d: slot %d found as %d", i, s, got)
			}
		}
		entries := 0
		for _, e := range r.index {
			if e != 0 {
				entries++
			}
		}
		if entries != live {
			t.Fatalf("step %d: %d index entries for %d datagrams", i, entries, live)
		}
	}
}
