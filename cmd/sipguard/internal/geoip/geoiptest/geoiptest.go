// Package geoiptest writes small country databases, in the MaxMind format
// the box reads, for tests.
package geoiptest

import (
	"bytes"
	"fmt"
	"net"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Country returns a GeoLite2-Country database that maps each network
// (CIDR) of nets to its ISO country code.
func Country(nets map[string]string) ([]byte, error) {
	w, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-Country",
		Description:             map[string]string{"en": "sipguard test database"},
		BuildEpoch:              time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).Unix(),
		IPVersion:               6,
		RecordSize:              28,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		return nil, err
	}
	for cidr, code := range nets {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return nil, err
		}
		rec := mmdbtype.Map{
			"country":            mmdbtype.Map{"iso_code": mmdbtype.String(code)},
			"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(code)},
		}
		if err := w.Insert(n, rec); err != nil {
			return nil, fmt.Errorf("insert %s: %w", cidr, err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
