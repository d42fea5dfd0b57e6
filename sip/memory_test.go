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
		// What the engine holds, less the transaction and extension tables,
		// which do not depend on the number of sources.
		tables := float64(txSlots)*float64(unsafe.Sizeof(transaction{})) + float64(extSlots)*float64(unsafe.Sizeof(extEntry{}))
		perSource = (float64(after.HeapAlloc) - float64(before.HeapAlloc) - tables) / float64(e.Tracked())
		runtime.KeepAlive(e)
	}
	b.ReportMetric(perSource, "B/source")
}
