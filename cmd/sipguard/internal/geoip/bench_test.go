package geoip

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// The synthetic database has the size of GeoLite2-Country: 250,000 IPv4
// networks (/16 to /24) and 50,000 IPv6 networks (/29 to /48) over 250
// countries, one in five networks "CN".
const (
	bigV4 = 250_000
	bigV6 = 50_000
)

var big struct {
	once  sync.Once
	buf   []byte
	addrs []netip.Addr // addresses inside the networks
}

func bigDB(b *testing.B) ([]byte, []netip.Addr) {
	big.once.Do(func() {
		rng := rand.New(rand.NewPCG(7, 7))
		codes := make([]string, 250)
		for i := range codes {
			codes[i] = string([]byte{'A' + byte(i/26), 'A' + byte(i%26)})
		}
		codes[0] = "CN"
		records := make([]mmdbtype.Map, len(codes))
		for i, c := range codes {
			records[i] = countryRecord(c)
		}
		pick := func() mmdbtype.Map {
			if rng.IntN(5) == 0 {
				return records[0]
			}
			return records[1+rng.IntN(len(records)-1)]
		}
		w, err := mmdbwriter.New(mmdbwriter.Options{
			DatabaseType:            "GeoLite2-Country",
			RecordSize:              28,
			IncludeReservedNetworks: true,
		})
		if err != nil {
			b.Fatal(err)
		}
		// IPv4: consecutive networks from 1.0.0.0 with small gaps.
		next := uint32(1 << 24)
		for range bigV4 {
			bits := 16 + rng.IntN(9)
			size := uint32(1) << (32 - bits)
			next = (next + size - 1) &^ (size - 1)
			ip := make(net.IP, 4)
			binary.BigEndian.PutUint32(ip, next)
			if err := w.Insert(&net.IPNet{IP: ip, Mask: net.CIDRMask(bits, 32)}, pick()); err != nil {
				b.Fatal(err)
			}
			big.addrs = append(big.addrs, netip.AddrFrom4([4]byte(ip)))
			next += size + uint32(rng.IntN(2))<<(32-bits)
		}
		// IPv6: consecutive networks from 2400::.
		hi := uint64(0x2400) << 48
		for range bigV6 {
			bits := 29 + rng.IntN(20)
			size := uint64(1) << (64 - bits)
			hi = (hi + size - 1) &^ (size - 1)
			ip := make(net.IP, 16)
			binary.BigEndian.PutUint64(ip, hi)
			if err := w.Insert(&net.IPNet{IP: ip, Mask: net.CIDRMask(bits, 128)}, pick()); err != nil {
				b.Fatal(err)
			}
			big.addrs = append(big.addrs, netip.AddrFrom16([16]byte(ip)))
			hi += size
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
		big.buf = buf.Bytes()
		rng.Shuffle(len(big.addrs), func(i, j int) { big.addrs[i], big.addrs[j] = big.addrs[j], big.addrs[i] })
	})
	return big.buf, big.addrs
}

func openBig(b *testing.B) (*DB, []netip.Addr) {
	buf, addrs := bigDB(b)
	db, err := OpenBytes(buf)
	if err != nil {
		b.Fatal(err)
	}
	info := db.Info()
	b.Logf("synthetic database: %d bytes, %d nodes, %d IPv4 and %d IPv6 networks, %d countries",
		info.Size, info.Nodes, info.Networks4, info.Networks6, info.Countries)
	return db, addrs
}

func BenchmarkLookup(b *testing.B) {
	db, addrs := openBig(b)
	for _, fam := range []struct {
		name string
		is4  bool
	}{{"IPv4", true}, {"IPv6", false}} {
		var set []netip.Addr
		for _, a := range addrs {
			if a.Is4() == fam.is4 {
				set = append(set, a)
			}
		}
		b.Run(fam.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if db.Lookup(set[i%len(set)]) == "" {
					b.Fatal("not found")
				}
				i++
			}
		})
	}
}

func BenchmarkNetworks(b *testing.B) {
	db, _ := openBig(b)
	for _, tc := range []struct {
		name      string
		countries []string
	}{
		{"CN", []string{"CN"}},
		{"10countries", []string{"CN", "AB", "AC", "AD", "AE", "AF", "AG", "AH", "AI", "AJ"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n = 0
				for range db.Networks(tc.countries) {
					n++
				}
			}
			b.ReportMetric(float64(n), "prefixes")
		})
	}
}

// BenchmarkOpen measures opening the database: checks, verification and
// the walk that indexes every record, what a restart or an update costs.
func BenchmarkOpen(b *testing.B) {
	buf, _ := bigDB(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenBytes(buf); err != nil {
			b.Fatal(err)
		}
	}
}
