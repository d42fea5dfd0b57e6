package geoip_test

import (
	"context"
	"log"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/geoip"
	"github.com/sipguard/sipguard/netfilter"
)

// The daemon's wiring: open the database at start, load the blocked
// countries' networks into the kernel, keep the database current for
// lookups, and let the updater replace both when a new one comes out.
func Example() {
	ctx := context.Background()
	fw, err := netfilter.Open()
	if err != nil {
		log.Fatal(err)
	}
	blocked := []string{"CN", "RU"}
	var current atomic.Pointer[geoip.DB]
	use := func(db *geoip.DB) {
		if _, _, err := fw.ReplaceSource(netfilter.Countries, db.Networks(blocked)); err != nil {
			log.Print(err) // the previous networks stay in force
			return
		}
		current.Store(db)
	}

	const path = "/data/geoip/country.mmdb"
	if db, err := geoip.Open(path); err == nil {
		use(db)
	} else {
		log.Print(err) // no database yet: the first update brings one
	}
	u, err := geoip.NewUpdater(geoip.UpdaterConfig{Path: path, AccountID: "123456", LicenseKey: "…"})
	if err != nil {
		log.Fatal(err)
	}
	go u.Run(ctx, 24*time.Hour, use)

	// Each ban or alert gets its country.
	if db := current.Load(); db != nil {
		log.Print(db.Lookup(netip.MustParseAddr("203.0.113.7")))
	}
}
