// Package geoip reads a MaxMind-format country database (GeoLite2-Country,
// DB-IP Country Lite, or any database of the same layout), answers which
// country an address belongs to, compiles the networks of chosen countries
// into prefixes for the kernel's interval sets, and keeps the database up to
// date (see [Updater]).
//
// A [DB] is immutable and safe for concurrent use. It holds the database in
// memory, so it needs no closing: when an update brings a new one, the old
// value is simply dropped, even while other goroutines still use it.
package geoip

import (
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// TypeMarker is what a country database's database_type must contain
// ("GeoLite2-Country", "GeoIP2-Country", "DBIP-Country-Lite").
const TypeMarker = "Country"

// DB is an opened, validated country database.
type DB struct {
	r    *maxminddb.Reader
	info Info
	// codes maps each data record (by its offset in the data section) to
	// its ISO country code. Filled once at open by walking the whole tree,
	// read-only afterwards: lookups take no lock and allocate nothing.
	codes map[uintptr]string
}

// Info describes a database: what the status API and CLI show.
type Info struct {
	// Path is the file the database was read from ("" when read from memory).
	Path string `json:"path,omitempty"`
	// Type is the database_type metadata, e.g. "GeoLite2-Country".
	Type string `json:"type"`
	// Description is the English description from the metadata, if any.
	Description string `json:"description,omitempty"`
	// Built is when the vendor built the database.
	Built time.Time `json:"built"`
	// IPVersion is 4 for an IPv4-only database, 6 for IPv4 and IPv6.
	IPVersion int `json:"ip_version"`
	// Nodes is the number of nodes in the search tree.
	Nodes int `json:"nodes"`
	// Size is the database's size in bytes.
	Size int `json:"size"`
	// Networks4 and Networks6 count the IPv4 and IPv6 networks that carry a
	// record (IPv4 networks once, not their IPv6 aliases).
	Networks4 int `json:"networks4"`
	Networks6 int `json:"networks6"`
	// Countries is the number of distinct country codes in the database.
	Countries int `json:"countries"`
}

// Open reads the database at path into memory and validates it (see
// [OpenBytes]).
func Open(path string) (*DB, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: %w", err)
	}
	db, err := openBytes(buf)
	if err != nil {
		return nil, fmt.Errorf("geoip: %s: %w", path, err)
	}
	db.info.Path = path
	return db, nil
}

// OpenBytes opens a database held in buf, which must not be modified
// afterwards. It checks that buf is a MaxMind DB whose type is a country
// database, and walks its whole search tree once, decoding every record it
// reaches: that proves the tree and the records sound (a damaged file fails
// here, not at a later lookup) and indexes every record's country.
func OpenBytes(buf []byte) (*DB, error) {
	db, err := openBytes(buf)
	if err != nil {
		return nil, fmt.Errorf("geoip: %w", err)
	}
	return db, nil
}

func openBytes(buf []byte) (*DB, error) {
	r, err := maxminddb.OpenBytes(buf, maxminddb.DisableStringCache())
	if err != nil {
		return nil, err
	}
	md := r.Metadata
	if !strings.Contains(md.DatabaseType, TypeMarker) {
		return nil, fmt.Errorf("%w: database type %q is not a country database", ErrWrongType, md.DatabaseType)
	}
	db := &DB{
		r:     r,
		codes: make(map[uintptr]string),
		info: Info{
			Type:        md.DatabaseType,
			Description: md.Description["en"],
			Built:       md.BuildTime().UTC(),
			IPVersion:   int(md.IPVersion),
			Nodes:       int(md.NodeCount),
			Size:        len(buf),
		},
	}
	countries := make(map[string]struct{})
	for res := range r.Networks() {
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("walk networks: %w", err)
		}
		off := res.Offset()
		code, seen := db.codes[off]
		if !seen {
			var rec record
			if err := res.Decode(&rec); err != nil {
				return nil, fmt.Errorf("record of %v: %w", res.Prefix(), err)
			}
			code = rec.code()
			db.codes[off] = code
			if code != "" {
				countries[code] = struct{}{}
			}
		}
		if p, ok := kernelPrefix(res.Prefix()); ok {
			if p.Addr().Is4() {
				db.info.Networks4++
			} else {
				db.info.Networks6++
			}
		}
	}
	db.info.Countries = len(countries)
	return db, nil
}

// ErrWrongType reports a database that opens but is not a country database
// (a City or ASN database, for instance).
var ErrWrongType = errors.New("wrong database type")

// record is the part of a country record sipguard reads. GeoLite2 and DB-IP
// both store the country under "country"; GeoLite2 leaves it out for some
// networks (anycast, satellite providers) that only have a registered
// country, which then stands in.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Registered struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

func (r *record) code() string {
	c := r.Country.ISOCode
	if c == "" {
		c = r.Registered.ISOCode
	}
	return strings.ToUpper(c)
}

// Info describes the database.
func (db *DB) Info() Info { return db.info }

// Lookup returns the ISO 3166-1 alpha-2 code (upper case, e.g. "FR") of the
// country addr belongs to, or "" when the database does not know it.
// IPv4-mapped IPv6 addresses are looked up as IPv4. It does not allocate.
func (db *DB) Lookup(addr netip.Addr) string {
	if !addr.IsValid() {
		return ""
	}
	res := db.r.Lookup(addr.Unmap())
	if !res.Found() {
		return ""
	}
	return db.codes[res.Offset()]
}

// Networks yields the networks of the given countries (ISO codes, any case)
// as prefixes ready for the kernel: IPv4 networks as IPv4 prefixes, once
// each (the database's IPv6 aliases of its IPv4 tree, such as
// ::ffff:0:0/96, 2001::/32 and 2002::/16, are skipped), then IPv6 networks,
// in the database's order. Unknown codes match nothing; no countries yields
// nothing. The sequence can be iterated any number of times.
func (db *DB) Networks(countries []string) iter.Seq[netip.Prefix] {
	want := make(map[uintptr]struct{})
	for _, c := range countries {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == "" {
			continue
		}
		for off, code := range db.codes {
			if code == c {
				want[off] = struct{}{}
			}
		}
	}
	return func(yield func(netip.Prefix) bool) {
		if len(want) == 0 {
			return
		}
		for res := range db.r.Networks() {
			if res.Err() != nil {
				// The tree was walked in full at open; an error here
				// cannot happen on the same immutable buffer.
				return
			}
			if _, ok := want[res.Offset()]; !ok {
				continue
			}
			p, ok := kernelPrefix(res.Prefix())
			if !ok {
				continue
			}
			if !yield(p) {
				return
			}
		}
	}
}

var (
	// ::/96 is where a MaxMind IPv6 database keeps its IPv4 tree; the reader
	// reports networks there as IPv4 already.
	v4Compat = netip.MustParsePrefix("::/96")
	v4Mapped = netip.MustParsePrefix("::ffff:0:0/96")
)

// kernelPrefix turns a network from the database into the prefix the kernel
// should hold. A network inside ::ffff:0:0/96 (a database written without
// aliasing that stores IPv4 there) becomes the IPv4 prefix it maps; one
// inside ::/96 that the reader did not report as IPv4 is the same IPv4 tree.
// Networks covering more than those /96 ranges stay IPv6.
func kernelPrefix(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return netip.Prefix{}, false
	}
	a := p.Addr()
	if a.Is4() {
		return p, true
	}
	if p.Bits() >= 96 && (v4Mapped.Contains(a) || v4Compat.Contains(a)) {
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:]))
		return netip.PrefixFrom(v4, p.Bits()-96), true
	}
	return p, true
}
