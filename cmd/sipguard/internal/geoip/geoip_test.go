package geoip

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLookup(t *testing.T) {
	db := mustOpen(t, testDB(t))
	for addr, want := range map[string]string{
		"203.0.113.7":          "CN",
		"198.51.100.1":         "FR",
		"192.0.2.1":            "FR",
		"192.0.2.200":          "US",
		"::ffff:203.0.113.9":   "CN", // IPv4-mapped: looked up as IPv4
		"2001:db8:bad::1":      "RU",
		"2001:db8:bad:ffff::2": "RU",
		"2001:db8:c5::1":       "CN",
		"2001:db8:1::1":        "",
		"10.0.0.1":             "",
		"8.8.8.8":              "",
		"fe80::1%eth0":         "",
	} {
		if got := db.Lookup(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Lookup(%s) = %q, want %q", addr, got, want)
		}
	}
	if got := db.Lookup(netip.Addr{}); got != "" {
		t.Errorf("Lookup(zero) = %q", got)
	}
}

func TestLookupRegisteredCountryOnly(t *testing.T) {
	db := mustOpen(t, buildDB(t, dbSpec{
		nets:           map[string]string{"198.51.100.0/24": "FR"},
		registeredOnly: map[string]string{"203.0.113.0/24": "de"},
	}))
	if got := db.Lookup(netip.MustParseAddr("203.0.113.1")); got != "DE" {
		t.Errorf("registered-only network: got %q, want DE", got)
	}
	if got := prefixes(db.Networks([]string{"DE"})); !slices.Equal(got, []string{"203.0.113.0/24"}) {
		t.Errorf("Networks(DE) = %v", got)
	}
}

func TestNetworks(t *testing.T) {
	db := mustOpen(t, testDB(t))
	for _, tc := range []struct {
		countries []string
		want      []string
	}{
		{[]string{"CN"}, []string{"203.0.113.0/24", "2001:db8:c0::/44"}},
		{[]string{"ru"}, []string{"2001:db8:bad::/48"}},
		{[]string{"FR", " us "}, []string{"192.0.2.0/25", "192.0.2.128/25", "198.51.100.0/24", "2001:db8:f00::/48"}},
		{[]string{"CN", "RU", "FR"}, []string{"192.0.2.0/25", "198.51.100.0/24", "203.0.113.0/24", "2001:db8:c0::/44", "2001:db8:bad::/48", "2001:db8:f00::/48"}},
		{[]string{"ZZ"}, nil},
		{nil, nil},
		{[]string{""}, nil},
	} {
		got := prefixes(db.Networks(tc.countries))
		if !slices.Equal(got, tc.want) {
			t.Errorf("Networks(%q) = %v, want %v", tc.countries, got, tc.want)
		}
	}
}

// TestNetworksNoAliases checks that the IPv4 tree comes out once, as IPv4,
// although the database (like GeoLite2) aliases it at ::ffff:0:0/96,
// 2001::/32 and 2002::/16, and that every prefix is unique and valid.
func TestNetworksNoAliases(t *testing.T) {
	for _, noAlias := range []bool{false, true} {
		db := mustOpen(t, buildDB(t, dbSpec{nets: docNets, noAlias: noAlias}))
		// The aliases are really there: the reader finds the IPv4 record
		// through them.
		if !noAlias {
			for _, a := range []string{"::ffff:203.0.113.1", "2002:cb00:7101::1"} {
				if res := db.r.Lookup(netip.MustParseAddr(a)); db.codes[res.Offset()] != "CN" {
					t.Fatalf("alias %s not in the test database", a)
				}
			}
		}
		all := []string{"CN", "FR", "RU", "US"}
		seen := map[netip.Prefix]bool{}
		v4, v6 := 0, 0
		for p := range db.Networks(all) {
			if seen[p] {
				t.Errorf("duplicate prefix %v", p)
			}
			seen[p] = true
			if p != p.Masked() {
				t.Errorf("prefix %v not masked", p)
			}
			if p.Addr().Is4() {
				v4++
				continue
			}
			v6++
			for _, alias := range []string{"::/96", "::ffff:0:0/96", "2001::/32", "2002::/16"} {
				if netip.MustParsePrefix(alias).Overlaps(p) {
					t.Errorf("aliased IPv4 network %v in the output", p)
				}
			}
		}
		if v4 != 4 || v6 != 3 {
			t.Errorf("noAlias=%v: %d IPv4 and %d IPv6 prefixes, want 4 and 3", noAlias, v4, v6)
		}
		info := db.Info()
		if info.Networks4 != 4 || info.Networks6 != 3 {
			t.Errorf("Info counts %d/%d, want 4/3", info.Networks4, info.Networks6)
		}
	}
}

func TestNetworksStopEarly(t *testing.T) {
	db := mustOpen(t, testDB(t))
	n := 0
	for range db.Networks([]string{"FR", "CN"}) {
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Fatalf("n = %d", n)
	}
}

func TestIPv4OnlyDatabase(t *testing.T) {
	db := mustOpen(t, buildDB(t, dbSpec{ipv4Only: true, nets: map[string]string{
		"203.0.113.0/24": "CN", "198.51.100.0/24": "FR",
	}}))
	if got := db.Lookup(netip.MustParseAddr("203.0.113.5")); got != "CN" {
		t.Errorf("Lookup = %q", got)
	}
	if got := db.Lookup(netip.MustParseAddr("2001:db8::1")); got != "" {
		t.Errorf("IPv6 in an IPv4 database = %q", got)
	}
	if got := prefixes(db.Networks([]string{"CN"})); !slices.Equal(got, []string{"203.0.113.0/24"}) {
		t.Errorf("Networks = %v", got)
	}
	if db.Info().IPVersion != 4 {
		t.Errorf("IPVersion = %d", db.Info().IPVersion)
	}
}

func TestInfo(t *testing.T) {
	buf := testDB(t)
	path := filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	info := db.Info()
	if info.Path != path || info.Type != "GeoLite2-Country" || !info.Built.Equal(testBuilt) ||
		info.IPVersion != 6 || info.Nodes == 0 || info.Size != len(buf) || info.Countries != 4 ||
		info.Description != "sipguard test database" {
		t.Errorf("Info = %+v", info)
	}
}

func TestOpenRejects(t *testing.T) {
	good := testDB(t)
	for name, buf := range map[string][]byte{
		"empty":     nil,
		"garbage":   []byte("this is not a MaxMind database"),
		"truncated": good[:len(good)/2],
		"city":      buildDB(t, dbSpec{typ: "GeoLite2-City", nets: docNets}),
		"asn":       buildDB(t, dbSpec{typ: "GeoLite2-ASN", nets: docNets}),
	} {
		if _, err := OpenBytes(buf); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	_, err := OpenBytes(buildDB(t, dbSpec{typ: "GeoLite2-City", nets: docNets}))
	if !errors.Is(err, ErrWrongType) {
		t.Errorf("City database: %v, want ErrWrongType", err)
	}
	if _, err := OpenBytes(buildDB(t, dbSpec{typ: "DBIP-Country-Lite", nets: docNets})); err != nil {
		t.Errorf("DB-IP database: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.mmdb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestKernelPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.0/24":         "203.0.113.0/24",
		"::ffff:203.0.113.0/120": "203.0.113.0/24",
		"::cb00:7100/120":        "203.0.113.0/24",
		"::ffff:0:0/96":          "0.0.0.0/0",
		"::/64":                  "::/64",
		"2001:db8::/32":          "2001:db8::/32",
	} {
		got, ok := kernelPrefix(netip.MustParsePrefix(in))
		if !ok || got.String() != want {
			t.Errorf("kernelPrefix(%s) = %v, %v; want %s", in, got, ok, want)
		}
	}
	if _, ok := kernelPrefix(netip.Prefix{}); ok {
		t.Error("invalid prefix accepted")
	}
}
