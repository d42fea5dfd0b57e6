package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/geoip/geoiptest"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// The country filter drops a country's networks in the kernel, a reload
// turns it off, and bans carry their source's country.
func TestCountryFilterAndCountries(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	dir := t.TempDir()
	db, err := geoiptest.Country(map[string]string{"203.0.113.0/24": "CN", "198.51.100.0/24": "FR", "2001:db8:bad::/48": "CN"})
	if err != nil {
		t.Fatal(err)
	}
	dbFile, conf, sock, state := filepath.Join(dir, "country.mmdb"), filepath.Join(dir, "sipguard.toml"), filepath.Join(dir, "api.sock"), filepath.Join(dir, "state.db")
	if err := os.WriteFile(dbFile, db, 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(mode string) {
		t.Helper()
		text := "[protection]\ncountries = \"" + mode + "\"\n\n[geoip]\ndatabase = \"" + dbFile + "\"\ncountries = [\"cn\"]\n"
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("block")
	startDaemon(t, lab, bin, "--api", sock, "--state", state, "--config", conf)

	if reaches(t, lab, netlab.Attacker4) {
		t.Error("a source in a blocked country reached the PBX")
	}
	if !reaches(t, lab, netlab.Carrier4) {
		t.Error("a source in another country was dropped")
	}
	var g api.GeoIP
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "geoip", "status", "--json")), &g); err != nil {
		t.Fatal(err)
	}
	if g.Mode != "block" || len(g.Countries) != 1 || g.Countries[0] != "CN" || g.Prefixes != 2 || g.Database == nil || g.Database.Type != "GeoLite2-Country" {
		t.Errorf("geoip status: %+v", g)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "check", netlab.Attacker4.String()); !strings.Contains(out, "country CN") {
		t.Errorf("check: %s", out)
	}

	// The filter off, live; then a scanner from there is banned, and its
	// ban says where it comes from.
	write("off")
	sipguard(t, lab, bin, "--api", sock, "config", "set", "protection.countries", "off")
	if !reaches(t, lab, netlab.Attacker4) {
		t.Fatal("the country filter is still on after the reload")
	}
	attack(t, lab, "svmap", "-p", "5060", netlab.PBX4.String())
	var bans api.Bans
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "bans", "--json")), &bans); err != nil {
		t.Fatal(err)
	}
	if len(bans.Temporary) != 1 || bans.Temporary[0].Country != "CN" {
		t.Errorf("bans: %+v", bans)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "report", "--json"); !strings.Contains(out, `"country": "CN"`) {
		t.Errorf("report: %s", out)
	}
}

// With no country database yet but a source to download it from, the box
// protects at once and loads the database, and the country set, in the
// background.
func TestCountryDatabaseDownloaded(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	db, err := geoiptest.Country(map[string]string{"203.0.113.0/24": "CN"})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveInBox(t, lab, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(db) }))

	dir := t.TempDir()
	conf, sock := filepath.Join(dir, "sipguard.toml"), filepath.Join(dir, "api.sock")
	text := "[protection]\ncountries = \"block\"\n\n[geoip]\ndatabase = \"" + filepath.Join(dir, "geoip", "country.mmdb") +
		"\"\ncountries = [\"CN\"]\nupdate_url = \"http://" + addr + "/country.mmdb\"\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, lab, bin, "--api", sock, "--config", conf)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var g api.GeoIP
		if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "geoip", "status", "--json")), &g); err != nil {
			t.Fatal(err)
		}
		if g.Database != nil && g.Prefixes == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database was not downloaded: %+v", g)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if reaches(t, lab, netlab.Attacker4) {
		t.Error("the downloaded country set does not drop")
	}
	if !reaches(t, lab, netlab.Carrier4) {
		t.Error("a source in no listed country was dropped")
	}
}
