package tollfraud

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sipguard/sipguard/sip"
)

// FuzzObserve feeds the watch whatever the parser accepts, at any time:
// it must never panic, and what it reports must stay within its tables.
func FuzzObserve(f *testing.F) {
	f.Add([]byte("INVITE sip:+88212345@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\nFrom: <sip:201@pbx>;tag=1\r\nTo: <sip:+88212345@x>\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n\r\n"), int64(0))
	f.Add([]byte("INVITE tel:00(882)-1.2;phone-context=x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:@pbx>\r\nTo: <tel:1>\r\nCall-ID: b\r\nCSeq: 1 INVITE\r\n\r\n"), int64(1<<40))
	f.Add([]byte("INVITE sip:%20%2@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@pbx>\r\nTo: <sip:x@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n"), int64(-1))
	h, err := ParseHours("Mon-Fri 08:00-18:00")
	if err != nil {
		f.Fatal(err)
	}
	r := Rules{Enabled: true, InternationalPrefix: "00", HighRisk: []string{"+882"}, CallsPerHour: 1, OfficeHours: h, Block: []string{"00883"}}
	w, err := New(r, func(d sip.Decision) {
		if d.Event == nil || len(d.Event.Dialled) > maxNumber || len(d.Event.Extension) > maxName {
			panic("a malformed alert")
		}
	})
	if err != nil {
		f.Fatal(err)
	}
	pbx := netip.MustParseAddr("192.0.2.10")
	f.Fuzz(func(t *testing.T, msg []byte, at int64) {
		var m sip.Message
		if sip.Parse(msg, &m) != nil {
			return
		}
		now := time.Unix(0, at)
		w.Observe(now, pbx, &m)
		if exts := w.Extensions(now); len(exts) > extSlots {
			t.Fatalf("%d extensions", len(exts))
		}
	})
}
