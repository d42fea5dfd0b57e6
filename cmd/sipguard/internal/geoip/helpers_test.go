package geoip

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// testBuilt is the build time of the small test databases.
var testBuilt = time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)

// docNets is the small test database: documentation ranges only.
var docNets = map[string]string{
	"203.0.113.0/24":    "CN",
	"198.51.100.0/24":   "FR",
	"192.0.2.0/25":      "FR",
	"192.0.2.128/25":    "US",
	"2001:db8:bad::/48": "RU",
	"2001:db8:f00::/48": "FR",
	"2001:db8:c0::/44":  "CN",
}

type dbSpec struct {
	typ   string
	built time.Time
	nets  map[string]string
	// registeredOnly networks carry only registered_country.
	registeredOnly map[string]string
	ipv4Only       bool
	noAlias        bool
}

// countryRecord is what GeoLite2-Country stores for a network.
func countryRecord(code string) mmdbtype.Map {
	return mmdbtype.Map{
		"continent": mmdbtype.Map{"code": mmdbtype.String("XX")},
		"country": mmdbtype.Map{
			"iso_code":   mmdbtype.String(code),
			"geoname_id": mmdbtype.Uint32(len(code)),
			"names":      mmdbtype.Map{"en": mmdbtype.String("Country " + code)},
		},
		"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(code)},
	}
}

// buildDB writes a database as spec says and returns its bytes.
func buildDB(t testing.TB, spec dbSpec) []byte {
	t.Helper()
	if spec.typ == "" {
		spec.typ = "GeoLite2-Country"
	}
	if spec.built.IsZero() {
		spec.built = testBuilt
	}
	ipv := 6
	if spec.ipv4Only {
		ipv = 4
	}
	w, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            spec.typ,
		Description:             map[string]string{"en": "sipguard test database"},
		BuildEpoch:              spec.built.Unix(),
		IPVersion:               ipv,
		RecordSize:              28,
		IncludeReservedNetworks: true,
		DisableIPv4Aliasing:     spec.noAlias,
	})
	if err != nil {
		t.Fatal(err)
	}
	insert := func(cidr string, v mmdbtype.DataType) {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Insert(n, v); err != nil {
			t.Fatalf("insert %s: %v", cidr, err)
		}
	}
	for cidr, code := range spec.nets {
		insert(cidr, countryRecord(code))
	}
	for cidr, code := range spec.registeredOnly {
		insert(cidr, mmdbtype.Map{"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(code)}})
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testDB(t testing.TB) []byte {
	return buildDB(t, dbSpec{nets: docNets})
}

func mustOpen(t testing.TB, buf []byte) *DB {
	t.Helper()
	db, err := OpenBytes(buf)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func prefixes(seq func(func(netip.Prefix) bool)) []string {
	var out []string
	for p := range seq {
		out = append(out, p.String())
	}
	return out
}
