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
	p := &Packet{Src: attacker4, Dst: pbx4, SrcPort: 40000, DstPort: 5060, Proto: ProtoTCP, TCPSeq: h.seq, TCPFlags: flags, Payload: []byte(payload)}
	h.seq += uint32(len(payload))
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
	h := &streamHarness{s: NewStreams(16, 64<<10, time.Minute), seq: 1}
	m5 := sipMessage(5, "")
	h.send(m5[:60], 0)
	h.seq -= 60
	h.send(m5[:80], 0) // retransmission overlapping 60 known bytes, 20 new
	h.send(m5[80:], 0)
	h.seq += 500 // a lost segment
	h.send(sipMessage(6, ""), 0)
	h.send("\x16\x03\x01 TLS is not SIP\r\n\r\n", 0)
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
	if a := testing.AllocsPerRun(100, func() { s.Feed(now, p, fn) }); a != 0 {
		t.Errorf("Feed allocates %v times for a whole message", a)
	}
}

// FuzzStreams feeds arbitrary bytes cut into three segments: the framer
// must not panic, must hand on only messages that parse, and must stay
// within its buffer.
func FuzzStreams(f *testing.F) {
	f.Add([]byte(sipMessage(1, "a")+sipMessage(2, "")), uint16(10), uint16(200))
	f.Add([]byte("\r\n\r\n"+sipMessage(3, "v=0")), uint16(0), uint16(5))
	f.Fuzz(func(t *testing.T, b []byte, c1, c2 uint16) {
		s := NewStreams(4, 4096, time.Minute)
		i, j := min(int(c1), len(b)), min(int(c1)+int(c2), len(b))
		seq := uint32(7)
		for _, seg := range [][]byte{b[:i], b[i:j], b[j:]} {
			p := &Packet{Src: attacker4, Dst: pbx4, SrcPort: 1, DstPort: 5060, TCPSeq: seq, Payload: seg}
			seq += uint32(len(seg))
			s.Feed(time.Now(), p, func(msg []byte) {
				var m Message
				if err := Parse(msg, &m); err != nil {
					t.Fatalf("handed on a message that does not parse: %v", err)
				}
			})
		}
		for _, fl := range s.flows {
			if len(fl.buf) > 4096 {
				t.Fatalf("buffer of %d bytes", len(fl.buf))
			}
		}
	})
}
