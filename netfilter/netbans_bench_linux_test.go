package netfilter

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// BenchmarkBan times one ban batch of one source or of one network, with
// the set already holding held bans of the same kind: a source's ban is
// written blind into a hash set; a network ban reads the network set back
// first, to keep its ranges disjoint.
func BenchmarkBan(b *testing.B) {
	for _, c := range []struct {
		name string
		bits int
		held int
	}{
		{"source/held=0", 32, 0},
		{"source/held=1000", 32, 1000},
		{"network/held=0", 24, 0},
		{"network/held=100", 24, 100},
		{"network/held=1000", 24, 1000},
	} {
		b.Run(c.name, func(b *testing.B) {
			lab := netlab.NewT(b)
			fw, err := Open(WithNetNS(lab.Box.Fd()))
			if err != nil {
				b.Fatal(err)
			}
			defer fw.Close()
			if err := fw.Apply(Defaults()); err != nil {
				b.Fatal(err)
			}
			at := func(i int) Ban { // disjoint networks (or sources) from 16.0.0.0
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], 16<<24+uint32(i)<<(32-c.bits))
				return Ban{Addr: netip.AddrFrom4(a), Bits: c.bits, Timeout: time.Hour}
			}
			held := make([]Ban, 0, c.held)
			for i := range c.held {
				held = append(held, at(i))
			}
			for chunk := 0; chunk < len(held); chunk += 500 {
				if err := fw.Ban(held[chunk:min(chunk+500, len(held))]); err != nil {
					b.Fatal(err)
				}
			}
			one := []Ban{at(c.held + 1)}
			b.ResetTimer()
			for b.Loop() {
				if err := fw.Ban(one); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
