package sip

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func sipMessage(i int, body string) string {
	return fmt.Sprintf("REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/TCP 203.0.113.66:40000;branch=z9hG4bK%d\r\nFrom: <sip:1001@pbx>;tag=%d\r\nTo: <sip:1001@pbx>\r\nCall-ID: tcp-%d\r\nCSeq: %d REGISTER\r\nContent-Length: %d\r\n\r\n%s", i, i, i, i, len(body), body)
}

type streamHarness struct {
	s   *Streams
	seq uint32
	got []string
	now time.Time
}

func (h *streamHarness) send(payload string, flags uint8) {
	h.sendAt(h.seq, payload, flags)
	h.seq += uint32(len(payload))
}

// sendAt sends payload at sequence number seq, leaving h.seq alone.
func (h *streamHarness) sendAt(seq uint32, payload string, flags uint8) {
	p := &Packet{Src: attacker4, Dst: pbx4, SrcPort: 40000, DstPort: 5060, Proto: ProtoTCP, TCPSeq: seq, TCPFlags: flags, Payload: []byte(payload)}
	h.s.Feed(h.now, p, func(msg []byte) {
		var m Message
		if err := Parse(msg, &m); err != nil {
			panic(err)
		}
		h.got = append(h.got, string(m.CallID))
	})
}

func TestStreamsFraming(t *testing.T) {
	h := &streamHarness{s: NewStreams(16, 64<<10, time.Minute), seq: 1000}
	two := sipMessage(1, "") + "\r\n\r\n" + sipMessage(2, "v=0\r\n") // with a keep-alive between
	h.send(two, 0)
	three := sipMessage(3, strings.Repeat("x", 3000))
	h.send(three[:100], 0) // split across three segments
	h.send(three[100:2000], 0)
	h.send(three[2000:]+sipMessage(4, "")[:50], 0)
	h.send(sipMessage(4, "")[50:], 0)
	want := []string{"tcp-1", "tcp-2", "tcp-3", "tcp-4"}
	if strings.Join(h.got, ",") != strings.Join(want, ",") {
		t.Errorf("messages %v, want %v", h.got, want)
	}
	if st := h.s.Stats(); st.Messages != 4 || st.Resyncs+st.Garbage+st.Overflows != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestStreamsRetransmissionGapAndGarbage(t *testing.T) {
	h := &streamHarness{s: NewStreams(16, 64<<10, time.Minute), seq: 1, now: time.Now()}
	m5 := sipMessage(5, "")
	h.send(m5[:60], 0)
	h.seq -= 60
	h.send(m5[:80], 0) // retransmission overlapping 60 known bytes, 20 new
	h.send(m5[80:], 0)
	h.seq += 500 // a lost segment
	h.send(sipMessage(6, ""), 0)
	h.send("\x16\x03\x01 TLS is not SIP\r\n\r\n", 0)
	h.now = h.now.Add(gapWait + time.Second) // the lost segment is not coming
	h.send(sipMessage(7, ""), 0)
	if got := strings.Join(h.got, ","); got != "tcp-5,tcp-6,tcp-7" {
		t.Errorf("messages %s", got)
	}
	if st := h.s.Stats(); st.Resyncs != 1 || st.Garbage == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestStreamsBounded(t *testing.T) {
	s := NewStreams(4, 2048, time.Minute)
	now := time.Now()
	for i := range 100 { // 100 connections, each leaving half a message behind
		p := &Packet{Src: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), Dst: pbx4, SrcPort: 40000, DstPort: 5060, Payload: []byte(sipMessage(i, "")[:40])}
		s.Feed(now, p, func([]byte) {})
	}
	if len(s.flows) > 4 || s.Stats().Evicted != 96 {
		t.Errorf("%d flows kept, %d evicted", len(s.flows), s.Stats().Evicted)
	}
	big := &Packet{Src: attacker4, Dst: pbx4, SrcPort: 1, DstPort: 5060, Payload: []byte(sipMessage(1, strings.Repeat("x", 5000))[:4000])}
	s.Feed(now, big, func([]byte) {})
	if s.Stats().Overflows != 1 {
		t.Errorf("a message over the buffer was kept: %+v", s.Stats())
	}
	fin := &Packet{Src: attacker4, Dst: pbx4, SrcPort: 2, DstPort: 5060, TCPFlags: tcpFIN, Payload: []byte(sipMessage(1, "")[:40])}
	s.Feed(now, fin, func([]byte) {})
	if _, ok := s.flows[flowKey{attacker4, pbx4, 2, 5060}]; ok {
		t.Error("a closed connection is still tracked")
	}
}

func TestStreamsWholeSegmentAllocatesNothing(t *testing.T) {
	s := NewStreams(16, 64<<10, time.Minute)
	p := &Packet{Src: attacker4, Dst: pbx4, SrcPort: 40000, DstPort: 5060, Payload: []byte(sipMessage(1, ""))}
	now := time.Now()
	n := 0
	fn := func([]byte) { n++ }
	if a := testing.AllocsPerRun(100, func() {
		s.Feed(now, p, fn)
		p.TCPSeq += uint32(len(p.Payload))
	}); a != 0 {
		t.Errorf("Feed allocates %v times for a whole message", a)
	}
	if n != 101 {
		t.Errorf("%d messages handed on, want 101", n)
	}
}

func TestStreamsOutOfOrder(t *testing.T) {
	m1, m2 := sipMessage(1, strings.Repeat("a", 500)), sipMessage(2, "")
	all := m1 + m2
	cuts := []int{0, 200, 400, len(m1) - 50, len(m1), len(all)}
	seg := func(i int) (uint32, string) { return 1000 + uint32(cuts[i]), all[cuts[i]:cuts[i+1]] }
	for _, order := range [][]int{{0, 2, 1, 3, 4}, {4, 3, 2, 1, 0}, {1, 2, 3, 4, 0}, {0, 3, 1, 2, 4}} {
		h := &streamHarness{s: NewStreams(16, 64<<10, time.Minute), now: time.Now()}
		h.sendAt(999, "", tcpSYN) // the connection starts: the box knows where
		for _, i := range order {
			seq, data := seg(i)
			h.sendAt(seq, data, 0)
		}
		if got := strings.Join(h.got, ","); got != "tcp-1,tcp-2" {
			t.Errorf("order %v: messages %s", order, got)
		}
		if st := h.s.Stats(); st.Resyncs != 0 || st.Garbage != 0 || st.Reordered == 0 {
			t.Errorf("order %v: stats %+v", order, st)
		}
		if h.s.early != 0 {
			t.Errorf("order %v: %d early bytes still held", order, h.s.early)
		}
	}
}

func TestStreamsOverlappingRetransmission(t *testing.T) {
	m := sipMessage(3, strings.Repeat("b", 300))
	h := &streamHarness{s: NewStreams(16, 64<<10, time.Minute), now: time.Now()}
	h.sendAt(99, "", tcpSYN)
	h.sendAt(100, m[:100], 0)
	h.sendAt(300, m[200:300], 0) // early
	// A retransmission overlapping what was read, filling the gap and
	// overlapping the early segment, with forged bytes where the box
	// already holds data: the first copy of every byte wins.
	forged := []byte(m[50:250])
	copy(forged[:20], "XXXXXXXXXXXXXXXXXXXX")
	copy(forged[180:], "YYYYYYYYYYYYYYYYYYYY")
	var msgs []string
	p := &Packet{Src: attacker4, Dst: pbx4, SrcPort: 40000, DstPort: 5060, Proto: ProtoTCP, TCPSeq: 150, Payload: forged}
	h.s.Feed(h.now, p, func(b []byte) { msgs = append(msgs, string(b)) })
	p = &Packet{Src: attacker4, Dst: pbx4, SrcPort: 40000, DstPort: 5060, Proto: ProtoTCP, TCPSeq: 300, Payload: []byte(m[200:])}
	h.s.Feed(h.now, p, func(b []byte) { msgs = append(msgs, string(b)) })
	if len(msgs) != 1 || msgs[0] != m {
		t.Errorf("handed on %d messages: %q", len(msgs), msgs)
	}
}

func TestStreamsReset(t *testing.T) {
	m := sipMessage(4, "")
	h := &streamHarness{s: NewStreams(16, 64<<10, time.Minute), seq: 5000, now: time.Now()}
	h.send(m[:60], 0)
	h.sendAt(h.seq+10000, "", tcpRST) // outside: ignored
	h.sendAt(h.seq-30, "", tcpRST)    // inside the window but not where the stream stands: ignored
	h.send(m[60:], 0)
	if got := strings.Join(h.got, ","); got != "tcp-4" {
		t.Errorf("messages %s", got)
	}
	if st := h.s.Stats(); st.RSTIgnored != 2 {
		t.Errorf("stats %+v", st)
	}
	h.send(m[:60], 0)
	h.send("", tcpRST) // exactly at the stream: honoured, the half message goes
	if len(h.s.flows) != 0 {
		t.Error("a reset connection is still tracked")
	}
}

func TestStreamsFINAfterData(t *testing.T) {
	m := sipMessage(5, strings.Repeat("c", 200))
	h := &streamHarness{s: NewStreams(16, 64<<10, time.Minute), now: time.Now()}
	h.sendAt(0, "", tcpSYN)
	h.sendAt(1, m[:100], 0)
	h.sendAt(201, m[200:], tcpFIN) // the FIN comes before the data it follows
	if len(h.s.flows) != 1 {
		t.Fatal("a FIN ahead of its data ended the connection")
	}
	h.sendAt(101, m[100:200], 0)
	if got := strings.Join(h.got, ","); got != "tcp-5" {
		t.Errorf("messages %s", got)
	}
	if len(h.s.flows) != 0 {
		t.Error("the connection is still tracked after its FIN")
	}
}

func TestStreamsEarlyQueueBounded(t *testing.T) {
	h := &streamHarness{s: NewStreams(16, 4096, time.Minute), now: time.Now()}
	h.sendAt(0, "", tcpSYN)
	m := sipMessage(6, "")
	for i := range 20 { // early segments beyond a gap that never fills
		h.sendAt(uint32(1000+i*len(m)), m, 0)
		if f := h.s.flows[flowKey{attacker4, pbx4, 40000, 5060}]; len(f.early) > maxEarlySegments || f.earlyLen > 4096 {
			t.Fatalf("%d early segments, %d bytes", len(f.early), f.earlyLen)
		}
	}
	if st := h.s.Stats(); st.Resyncs == 0 || st.Messages == 0 {
		t.Errorf("stats %+v", st)
	}
}

// FuzzStreams feeds arbitrary bytes cut into three segments, sent in the
// order the input picks, some twice: the framer must not panic, must hand
// on only messages that parse, must stay within its buffers, and its
// account of early bytes must match what the connections hold.
func FuzzStreams(f *testing.F) {
	f.Add([]byte(sipMessage(1, "a")+sipMessage(2, "")), uint16(10), uint16(200), uint8(0))
	f.Add([]byte("\r\n\r\n"+sipMessage(3, "v=0")), uint16(0), uint16(5), uint8(3))
	f.Add([]byte(sipMessage(1, "a")+sipMessage(2, "")), uint16(60), uint16(100), uint8(0x1d))
	orders := [][]int{{0, 1, 2}, {0, 2, 1}, {2, 1, 0}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {0, 2, 1, 2}, {2, 0, 2, 1}}
	f.Fuzz(func(t *testing.T, b []byte, c1, c2 uint16, order uint8) {
		s := NewStreams(4, 4096, time.Minute)
		i, j := min(int(c1), len(b)), min(int(c1)+int(c2), len(b))
		segs := [][]byte{b[:i], b[i:j], b[j:]}
		starts := []uint32{7, 7 + uint32(i), 7 + uint32(j)}
		flags := uint8(0)
		if order&0x10 != 0 {
			flags = tcpFIN
		}
		s.Feed(time.Now(), &Packet{Src: attacker4, Dst: pbx4, SrcPort: 1, DstPort: 5060, TCPSeq: 6, TCPFlags: tcpSYN}, func([]byte) {})
		for _, k := range orders[order%8] {
			fl := uint8(0)
			if k == 2 {
				fl = flags
			}
			p := &Packet{Src: attacker4, Dst: pbx4, SrcPort: 1, DstPort: 5060, TCPSeq: starts[k], TCPFlags: fl, Payload: segs[k]}
			s.Feed(time.Now(), p, func(msg []byte) {
				var m Message
				if err := Parse(msg, &m); err != nil {
					t.Fatalf("handed on a message that does not parse: %v", err)
				}
			})
		}
		early := 0
		for _, fl := range s.flows {
			if len(fl.buf) > 4096 || fl.earlyLen > 4096 || len(fl.early) > maxEarlySegments {
				t.Fatalf("buffer of %d bytes, %d early segments of %d bytes", len(fl.buf), len(fl.early), fl.earlyLen)
			}
			n := 0
			for _, sg := range fl.early {
				n += len(sg.data)
			}
			if n != fl.earlyLen {
				t.Fatalf("early bytes %d, counted %d", n, fl.earlyLen)
			}
			early += n
		}
		if early != s.early {
			t.Fatalf("early bytes %d, counted %d", early, s.early)
		}
	})
}
