package pipeline

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sipguard/sipguard/sip"
)

// outboundSeen records what the Outbound hook is told.
type outboundSeen struct {
	mu   sync.Mutex
	seen []string // method and Request-URI user
	srcs []netip.Addr
}

func (o *outboundSeen) observe(_ time.Time, src netip.Addr, m *sip.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, m.Method.String()+" "+string(m.URIUser))
	o.srcs = append(o.srcs, src)
}

// The Outbound hook is told of the requests that enter from the office
// side, and of nothing else.
func TestInspectOutbound(t *testing.T) {
	engine := startChain(t, Options{Kernel: &fakeKernel{}}, sip.DefaultRules())
	f := frames{remote: netip.MustParseAddr("198.51.100.10"), pbx: netip.MustParseAddr("192.0.2.10")}
	invite := "INVITE sip:+88212345@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:201@192.0.2.10>;tag=1\r\nTo: <sip:+88212345@198.51.100.10>\r\nCall-ID: out-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	answer := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:201@192.0.2.10>;tag=1\r\nTo: <sip:+88212345@198.51.100.10>;tag=2\r\nCall-ID: out-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	var o outboundSeen
	var st InspectStats
	opts := InspectOptions{Outbound: o.observe}
	ctx := context.Background()
	// From the office: the INVITE is told, a response is not.
	if err := InspectWith(ctx, &fakeCapture{frames: [][]byte{f.udp(false, invite), f.udp(false, answer)}}, sip.FromLAN, engine, &st, opts); err != nil {
		t.Fatal(err)
	}
	// From the internet: nothing is.
	if err := InspectWith(ctx, &fakeCapture{frames: [][]byte{f.udp(true, invite)}}, sip.FromWAN, engine, &st, opts); err != nil {
		t.Fatal(err)
	}
	if len(o.seen) != 1 || o.seen[0] != "INVITE +88212345" || o.srcs[0] != f.pbx {
		t.Errorf("the hook saw %q from %v, want the office's INVITE from %v", o.seen, o.srcs, f.pbx)
	}
}

// With the hook, reading a request from the office allocates nothing more.
func TestInspectOutboundDoesNotAllocate(t *testing.T) {
	engine := startChain(t, Options{Kernel: &fakeKernel{}}, sip.DefaultRules())
	f := frames{remote: netip.MustParseAddr("198.51.100.10"), pbx: netip.MustParseAddr("192.0.2.10")}
	frame := f.udp(false, "INVITE sip:+3312345@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n"+
		"From: <sip:201@192.0.2.10>;tag=1\r\nTo: <sip:+3312345@198.51.100.10>\r\nCall-ID: out-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
	var st InspectStats
	d := newDecoder(sip.FromLAN, engine, &st, 1024)
	calls := 0
	d.outbound = func(time.Time, netip.Addr, *sip.Message) { calls++ }
	if n := testing.AllocsPerRun(100, func() { d.frame(frame, nil) }); n != 0 {
		t.Errorf("%v allocations a frame", n)
	}
	if calls == 0 {
		t.Error("the hook was not called")
	}
}
