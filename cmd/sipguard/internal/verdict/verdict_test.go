package verdict

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

// fakeQueue hands the listener a fixed list of packets and records the
// verdicts, as the kernel's queue would.
type fakeQueue struct {
	packets []Packet
	got     map[uint32]string // id → "accept <mark>" or "drop"
	fail    bool
}

func (q *fakeQueue) Run(_ context.Context, fn func(Packet)) error {
	for _, p := range q.packets {
		fn(p)
	}
	return nil
}

func (q *fakeQueue) Accept(id, mark uint32) error {
	q.got[id] = "accept"
	if mark&netfilter.MarkJudged != 0 {
		q.got[id] = "accept judged"
	}
	if q.fail {
		return errors.New("refused")
	}
	return nil
}

func (q *fakeQueue) Drop(id uint32) error {
	q.got[id] = "drop"
	if q.fail {
		return errors.New("refused")
	}
	return nil
}

// udp4 builds an IPv4 UDP packet from src to the PBX's SIP port.
func udp4(src netip.Addr, payload string) []byte {
	b := make([]byte, 28, 28+len(payload))
	b[0], b[9] = 0x45, sip.ProtoUDP
	binary.BigEndian.PutUint16(b[2:], uint16(28+len(payload)))
	copy(b[12:16], src.AsSlice())
	copy(b[16:20], netip.MustParseAddr("192.0.2.10").AsSlice())
	binary.BigEndian.PutUint16(b[20:], 5060)
	binary.BigEndian.PutUint16(b[22:], 5060)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	return append(b, payload...)
}

func options(agent string) string {
	return "OPTIONS sip:100@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:100@pbx>;tag=1\r\nTo: <sip:100@pbx>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nUser-Agent: " + agent + "\r\n\r\n"
}

func TestListenerVerdicts(t *testing.T) {
	engine, err := sip.NewEngine(sip.DefaultRules(), 1024, func(sip.Decision) {})
	if err != nil {
		t.Fatal(err)
	}
	scanner, phone := netip.MustParseAddr("203.0.113.66"), netip.MustParseAddr("198.51.100.10")
	fragment := udp4(scanner, options("friendly-scanner"))
	binary.BigEndian.PutUint16(fragment[6:], 0x2000) // more fragments
	q := &fakeQueue{got: map[uint32]string{}, packets: []Packet{
		{ID: 1, Data: udp4(scanner, options("friendly-scanner"))},
		{ID: 2, Data: udp4(phone, options("Yealink SIP-T46S")), Mark: netfilter.MarkSIP},
		{ID: 3, Data: udp4(phone, "not SIP at all")},
		{ID: 4, Data: fragment},
		{ID: 5, Data: []byte{0x45, 0}},
	}}
	l := New(engine)
	if err := l.Run(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	want := map[uint32]string{1: "drop", 2: "accept judged", 3: "accept", 4: "accept", 5: "accept"}
	for id, v := range want {
		if q.got[id] != v {
			t.Errorf("packet %d: %q, want %q", id, q.got[id], v)
		}
	}
	if st := l.Stats(); st != (Stats{Queued: 5, Accepted: 1, Dropped: 1, Unread: 3}) {
		t.Errorf("stats %+v", st)
	}
	q.fail = true
	if err := l.Run(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Failed != 5 {
		t.Errorf("%d failed verdicts counted, want 5", st.Failed)
	}
}

func TestListenerKeepsOtherMarkBits(t *testing.T) {
	engine, err := sip.NewEngine(sip.DefaultRules(), 1024, func(sip.Decision) {})
	if err != nil {
		t.Fatal(err)
	}
	var mark uint32
	q := &markQueue{pkt: Packet{ID: 7, Mark: 0x5 | netfilter.MarkSIP, Data: udp4(netip.MustParseAddr("198.51.100.10"), options("Yealink"))}, mark: &mark}
	if err := New(engine).Run(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	if want := 0x5 | netfilter.MarkSIP | netfilter.MarkJudged; mark != want {
		t.Errorf("mark %#x, want %#x", mark, want)
	}
}

type markQueue struct {
	pkt  Packet
	mark *uint32
}

func (q *markQueue) Run(_ context.Context, fn func(Packet)) error { fn(q.pkt); return nil }
func (q *markQueue) Accept(_, mark uint32) error                  { *q.mark = mark; return nil }
func (q *markQueue) Drop(uint32) error                            { return errDropped }

var errDropped = errors.New("dropped")

func TestListenerAllocatesNothing(t *testing.T) {
	engine, err := sip.NewEngine(sip.DefaultRules(), 1024, func(sip.Decision) {})
	if err != nil {
		t.Fatal(err)
	}
	var mark uint32
	q := &markQueue{mark: &mark}
	l := New(engine)
	packets := []Packet{
		{ID: 1, Data: udp4(netip.MustParseAddr("198.51.100.10"), options("Yealink"))},
		{ID: 2, Data: udp4(netip.MustParseAddr("203.0.113.66"), options("friendly-scanner"))},
		{ID: 3, Data: []byte{0x45}},
	}
	if n := testing.AllocsPerRun(1000, func() {
		for _, p := range packets {
			l.handle(q, p)
		}
	}); n != 0 {
		t.Errorf("%v allocations per run, want none", n)
	}
}
