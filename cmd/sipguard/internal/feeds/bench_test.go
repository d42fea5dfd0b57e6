package feeds

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// feed1M is a generated 1,000,000-line feed: public IPv4 addresses and /24
// networks, a comment every 1000 lines, and some IPv6 networks, as large
// blocklists look.
func feed1M() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.Grow(18 << 20)
	for i := range 1_000_000 {
		switch {
		case i%1000 == 0:
			b.WriteString("# section\n")
		case i%100 == 1:
			fmt.Fprintf(&b, "2001:db8:%x::/48\n", r.IntN(0x10000))
		case i%4 == 0:
			fmt.Fprintf(&b, "%d.%d.%d.0/24 ; SBL%d\n", 1+r.IntN(9), r.IntN(256), r.IntN(256), i)
		default:
			fmt.Fprintf(&b, "%d.%d.%d.%d\n", 11+r.IntN(80), r.IntN(256), r.IntN(256), r.IntN(256))
		}
	}
	return b.Bytes()
}

// BenchmarkParse1M parses, sorts and compacts a 1,000,000-line feed.
func BenchmarkParse1M(b *testing.B) {
	data := feed1M()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var entries int
	for b.Loop() {
		l, _, err := parseText(bytes.NewReader(data), DefaultMaxEntries)
		if err != nil {
			b.Fatal(err)
		}
		entries = len(l.v4) + len(l.v6)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ns/line")
	b.ReportMetric(float64(entries), "entries")
}

// BenchmarkAll1M merges two 1M-line feeds' content into one sequence.
func BenchmarkAll1M(b *testing.B) {
	data := feed1M()
	l1, _, _ := parseText(bytes.NewReader(data), DefaultMaxEntries)
	l2, _, _ := parseText(bytes.NewReader(data), DefaultMaxEntries)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = 0
		for range merged([]*list{l1, l2}) {
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/prefix")
}

// TestMemoryPerEntry measures the heap a parsed 1M-line feed keeps.
func TestMemoryPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("1M lines")
	}
	data := feed1M()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l, _, err := parseText(bytes.NewReader(data), DefaultMaxEntries)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := len(l.v4) + len(l.v6)
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	t.Logf("%d entries (%d IPv6): %.1f bytes/entry kept", n, len(l.v6), per)
	if per > 12 {
		t.Errorf("%.1f bytes per entry, want at most 12", per)
	}
	runtime.KeepAlive(l)
	runtime.KeepAlive(data)
}
