package pipeline

import (
	"net/netip"
	"testing"

	"github.com/sipguard/sipguard/sip"
)

// benchFrames are a REGISTER from the internet and the PBX's 401 answer.
func benchFrames() (register, answer []byte) {
	f := frames{remote: netip.MustParseAddr("198.51.100.10"), pbx: netip.MustParseAddr("192.0.2.10")}
	register = f.udp(true, "REGISTER sip:192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK1\r\n"+
		"From: <sip:201@192.0.2.10>;tag=1\r\nTo: <sip:201@192.0.2.10>\r\nCall-ID: bench-1\r\nCSeq: 1 REGISTER\r\nUser-Agent: Yealink\r\nContent-Length: 0\r\n\r\n")
	answer = f.udp(false, "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK1\r\n"+
		"From: <sip:201@192.0.2.10>;tag=1\r\nTo: <sip:201@192.0.2.10>;tag=2\r\nCall-ID: bench-1\r\nCSeq: 1 REGISTER\r\n"+
		"WWW-Authenticate: Digest realm=\"pbx\", nonce=\"abc\"\r\nContent-Length: 0\r\n\r\n")
	return register, answer
}

// Requests are counted by method, responses by the method they answer
// and their status class, an unknown method as other; counting allocates
// nothing.
func TestInspectCountsSIP(t *testing.T) {
	engine, err := sip.NewEngine(sip.DefaultRules(), 1024, func(sip.Decision) {})
	if err != nil {
		t.Fatal(err)
	}
	register, answer := benchFrames()
	f := frames{remote: netip.MustParseAddr("198.51.100.10"), pbx: netip.MustParseAddr("192.0.2.10")}
	odd := f.udp(true, "FROB sip:192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK2\r\n"+
		"From: <sip:201@192.0.2.10>;tag=1\r\nTo: <sip:201@192.0.2.10>\r\nCall-ID: odd-1\r\nCSeq: 1 FROB\r\nContent-Length: 0\r\n\r\n")
	var st InspectStats
	wan := newDecoder(sip.FromWAN, engine, &st, 1024)
	lan := newDecoder(sip.FromLAN, engine, &st, 1024)
	wan.frame(register, nil)
	wan.frame(register, nil)
	wan.frame(odd, nil)
	lan.frame(answer, nil)
	if n := testing.AllocsPerRun(100, func() { wan.frame(register, nil) }); n != 0 {
		t.Errorf("%v allocations a frame", n)
	}
	sc := st.SIPTotals()
	if got := sc.Requests[sip.REGISTER].Load(); got != 2+101 {
		t.Errorf("%d REGISTERs counted, want 103", got)
	}
	if got := sc.Requests[sip.MethodOther].Load(); got != 1 {
		t.Errorf("%d requests of other methods counted, want 1", got)
	}
	for k := range 6 {
		want := uint64(0)
		if k == 3 {
			want = 1
		}
		if got := sc.Responses[sip.REGISTER][k].Load(); got != want {
			t.Errorf("%d %dxx answers to REGISTER counted, want %d", got, k+1, want)
		}
	}
	if got := sc.Requests[sip.INVITE].Load(); got != 0 {
		t.Errorf("%d INVITEs counted, want none", got)
	}
}

// BenchmarkDecoderFrame measures one worker's work per frame without the
// socket: a REGISTER from the internet and the PBX's 401 answer, decoded,
// parsed, counted and judged. One op is one frame.
func BenchmarkDecoderFrame(b *testing.B) {
	engine, err := sip.NewEngine(sip.DefaultRules(), 1024, func(sip.Decision) {})
	if err != nil {
		b.Fatal(err)
	}
	register, answer := benchFrames()
	var st InspectStats
	wan := newDecoder(sip.FromWAN, engine, &st, 1024)
	lan := newDecoder(sip.FromLAN, engine, &st, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i&1 == 0 {
			wan.frame(register, nil)
		} else {
			lan.frame(answer, nil)
		}
	}
	b.StopTimer()
	wan.flush()
	lan.flush()
	if got := st.Frames.Load(); got != uint64(b.N) || st.Unparsable.Load() != 0 || st.Undecodable.Load() != 0 {
		b.Fatalf("%d frames counted, %d unparsable, %d undecodable, of %d", got, st.Unparsable.Load(), st.Undecodable.Load(), b.N)
	}
}
