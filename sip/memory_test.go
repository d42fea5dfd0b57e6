package sip

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// BenchmarkEngineBytesPerSource fills an engine's source table and reports
// the heap it holds per tracked source.
func BenchmarkEngineBytesPerSource(b *testing.B) {
	var m Message
	text := []byte("OPTIONS sip:1@pbx SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nFrom: <sip:1@pbx>;tag=1\r\nTo: <sip:1@pbx>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n")
	if err := Parse(text, &m); err != nil {
		b.Fatal(err)
	}
	var perSource float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		e, err := NewEngine(DefaultRules(), DefaultSources, func(Decision) {})
		if err != nil {
			b.Fatal(err)
		}
		p := Packet{Dst: netip.MustParseAddr("192.0.2.10")}
		now := time.Now()
		for i := range 4 * DefaultSources { // spoofed sources, four times the capacity
			p.Src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			e.Handle(now, FromWAN, &p, &m)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if e.Tracked() > DefaultSources {
			b.Fatalf("%d sources tracked", e.Tracked())
		}
		// What the engine holds, less the transaction, extension, trust and
		// network tables, which do not depend on the number of sources.
		tables := float64(txSlots)*float64(unsafe.Sizeof(transaction{})) + float64(extSlots)*float64(unsafe.Sizeof(extEntry{})) +
			float64(unsafe.Sizeof(trustTable{})) + float64(unsafe.Sizeof(netTable{}))
		perSource = (float64(after.HeapAlloc) - float64(before.HeapAlloc) - tables) / float64(e.Tracked())
		runtime.KeepAlive(e)
	}
	b.ReportMetric(perSource, "B/source")
}

// BenchmarkSpoofedFlood10M sends 10,000,000 requests from as many spoofed
// sources through the parser and the engine, with a real brute force in the
// middle of it, and reports the heap before and after: it must stay flat,
// and the real attacker must be banned.
func BenchmarkSpoofedFlood10M(b *testing.B) {
	var m, reg, deny Message
	mustParse := func(dst *Message, s string) {
		if err := Parse([]byte(s), dst); err != nil {
			b.Fatal(err)
		}
	}
	mustParse(&m, "OPTIONS sip:1@pbx SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nFrom: <sip:1@pbx>;tag=1\r\nTo: <sip:1@pbx>\r\nCall-ID: spoof\r\nCSeq: 1 OPTIONS\r\n\r\n")
	mustParse(&reg, "REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKreal\r\nFrom: <sip:1001@pbx>;tag=1\r\nTo: <sip:1001@pbx>\r\nCall-ID: real\r\nCSeq: 1 REGISTER\r\nAuthorization: Digest username=\"1001\"\r\n\r\n")
	mustParse(&deny, "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKreal\r\nFrom: <sip:1001@pbx>;tag=1\r\nTo: <sip:1001@pbx>;tag=2\r\nCall-ID: real\r\nCSeq: 1 REGISTER\r\n\r\n")
	attacker := netip.MustParseAddr("203.0.113.66")
	pbx := netip.MustParseAddr("192.0.2.10")
	var heapGrowth float64
	for b.Loop() {
		var banned bool
		e, err := NewEngine(DefaultRules(), DefaultSources, func(d Decision) {
			banned = banned || (d.Action == Ban && d.Source.Addr() == attacker)
		})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		p := Packet{Dst: pbx}
		var before, after runtime.MemStats
		for i := range 10_000_000 {
			if i == 1_000_000 {
				runtime.GC()
				runtime.ReadMemStats(&before) // the table is full by now
			}
			p.Src = netip.AddrFrom4([4]byte{byte(10 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)})
			e.Handle(now, FromWAN, &p, &m)
			if i%500_000 == 0 { // one guess every 500,000 spoofed packets
				e.Handle(now, FromWAN, &Packet{Src: attacker, Dst: pbx}, &reg)
				e.Handle(now, FromLAN, &Packet{Src: pbx, Dst: attacker}, &deny)
			}
			if i%1000 == 0 {
				now = now.Add(time.Millisecond)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heapGrowth = float64(after.HeapAlloc) - float64(before.HeapAlloc)
		if !banned {
			b.Fatal("the real attacker was not banned during the flood")
		}
		if e.Tracked() > DefaultSources {
			b.Fatalf("%d sources tracked", e.Tracked())
		}
	}
	b.ReportMetric(heapGrowth, "heap-growth-bytes")
}
