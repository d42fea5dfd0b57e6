package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/geoip/geoiptest"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// waitPermanent waits until status counts n permanent bans.
func waitPermanent(t *testing.T, lab *netlab.Lab, bin, sock string, n string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status := sipguard(t, lab, bin, "--api", sock, "status")
		if strings.Contains(status, "| Dynamic (permanent) |          "+n+" |") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never counted %s permanent bans:\n%s", n, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A permanent ban (the first ban, with a block threshold of 1) is lifted
// by unban --permanent only, through the daemon and with no daemon
// running; the source's SIP reaches the PBX again, and the attack log
// records each lift.
func TestUnbanPermanent(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	dir := t.TempDir()
	sock, state := filepath.Join(dir, "api.sock"), filepath.Join(dir, "state.db")
	args := []string{"--api", sock, "--state", state, "--block-threshold", "1"}
	stop := startDaemon(t, lab, bin, args...)

	attack(t, lab, "svmap", "-p", "5060", netlab.PBX4.String())
	waitPermanent(t, lab, bin, sock, "1")
	if reaches(t, lab, netlab.Attacker4) {
		t.Fatal("the permanently banned scanner reached the PBX")
	}
	if bans := sipguard(t, lab, bin, "--api", sock, "bans"); !strings.Contains(bans, "203.0.113.66/32") || !strings.Contains(bans, "permanent") {
		t.Fatalf("bans:\n%s", bans)
	}

	// A plain unban is refused, says how, and changes nothing.
	out, err := lab.Box.Command(context.Background(), bin, "--api", sock, "unban", netlab.Attacker4.String()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--permanent") {
		t.Errorf("unban of a permanent ban: %v\n%s", err, out)
	}
	if reaches(t, lab, netlab.Attacker4) {
		t.Fatal("a refused unban lifted the permanent ban")
	}

	// Lifted with no daemon running: from the kernel and the state file.
	stop() // the ruleset and its permanent ban stay in the kernel
	if reaches(t, lab, netlab.Attacker4) {
		t.Fatal("the permanent ban ended with the daemon")
	}
	out3 := sipguard(t, lab, bin, "--api", sock, "unban", "--permanent", "--state", state, netlab.Attacker4.String())
	if !strings.Contains(out3, "permanent ban lifted: 203.0.113.66/32") || !strings.Contains(out3, "no daemon running") {
		t.Errorf("unban --permanent with no daemon:\n%s", out3)
	}
	if !reaches(t, lab, netlab.Attacker4) {
		t.Error("lifted with no daemon running, the source still does not reach the PBX")
	}
	stop = startDaemon(t, lab, bin, args...)
	if !reaches(t, lab, netlab.Attacker4) {
		t.Error("a permanent ban lifted with no daemon running came back with the daemon")
	}

	// Banned permanently again; lifted through the daemon, an address not
	// banned reported.
	attack(t, lab, "svmap", "-p", "5060", netlab.PBX4.String())
	waitPermanent(t, lab, bin, sock, "1")
	out2 := sipguard(t, lab, bin, "--api", sock, "unban", "--permanent", netlab.Attacker4.String(), netlab.Other4.String())
	for _, want := range []string{"permanent ban lifted: 203.0.113.66/32", netlab.Other4.String() + ": not banned permanently", "unbanned 1"} {
		if !strings.Contains(out2, want) {
			t.Errorf("unban --permanent lacks %q:\n%s", want, out2)
		}
	}
	waitPermanent(t, lab, bin, sock, "0")
	if !reaches(t, lab, netlab.Attacker4) {
		t.Error("the lifted source does not reach the PBX")
	}
	if !phone(t, lab, netlab.Attacker4, "1001", "s3cret-1001") {
		t.Error("the lifted source's REGISTER does not go through")
	}
	stop()
	st, err := store.Open(state, store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(100)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	lifts := 0
	for _, e := range evs {
		if e.Action == store.ActionUnban && e.Source.String() == "203.0.113.66/32" {
			lifts++
		}
	}
	if lifts != 2 {
		t.Errorf("the attack log records %d lifts, want 2: %+v", lifts, evs)
	}
}

// Permanent bans show their country: one made by the daemon, and one
// stored without a country before the country database was there, filled
// in when listed.
func TestPermanentBanCountry(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	dir := t.TempDir()
	db, err := geoiptest.Country(map[string]string{"203.0.113.0/24": "CN", "198.51.100.0/24": "FR"})
	if err != nil {
		t.Fatal(err)
	}
	dbFile, conf, sock, state := filepath.Join(dir, "country.mmdb"), filepath.Join(dir, "sipguard.toml"), filepath.Join(dir, "api.sock"), filepath.Join(dir, "state.db")
	if err := os.WriteFile(dbFile, db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("[geoip]\ndatabase = \""+dbFile+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := netip.MustParsePrefix("198.51.100.7/32")
	st, err := store.Open(state, store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddPermanent(store.Ban{Prefix: old, At: time.Now().Add(-time.Hour), Reason: "REGISTER brute force", Bans: 5}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	startDaemon(t, lab, bin, "--api", sock, "--state", state, "--config", conf, "--block-threshold", "1")
	attack(t, lab, "svmap", "-p", "5060", netlab.PBX4.String())
	waitPermanent(t, lab, bin, sock, "2")
	var bans api.Bans
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "bans", "--json")), &bans); err != nil {
		t.Fatal(err)
	}
	countries := map[string]string{}
	for _, b := range bans.Permanent {
		countries[b.Source] = b.Country
	}
	if countries["203.0.113.66/32"] != "CN" || countries[old.String()] != "FR" {
		t.Errorf("permanent bans: %+v; want 203.0.113.66/32 from CN, %v from FR", bans.Permanent, old)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "bans"); !strings.Contains(out, "CN") || !strings.Contains(out, "FR") {
		t.Errorf("bans:\n%s", out)
	}
}

// With sip.prefix4 = 28 a ban covers the address's /28; a network ban
// covers the network; bans lists both as prefixes; unban of an address
// inside a network ban lifts that address's part of it.
func TestPrefixAndNetworkBansThroughTheCLI(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	dir := t.TempDir()
	conf, sock := filepath.Join(dir, "sipguard.toml"), filepath.Join(dir, "api.sock")
	if err := os.WriteFile(conf, []byte("[sip]\nprefix4 = 28\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := netip.MustParseAddr("203.0.113.1") // in the /24, not in the attacker's /28
	if err := netlab.IP(context.Background(), "-n", lab.WAN.Name, "addr", "add", outside.String()+"/32", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, lab, bin, "--api", sock, "--config", conf)
	sipguard(t, lab, bin, "ban", netlab.Attacker4.String(), "--for", "5m")
	if reaches(t, lab, netlab.Other4) { // .77, in the attacker's /28 (.64-.79)
		t.Error("an address in the banned /28 reached the PBX")
	}
	if !reaches(t, lab, netlab.Carrier4) {
		t.Error("an address outside the banned /28 was dropped")
	}
	sipguard(t, lab, bin, "--api", sock, "unban", netlab.Attacker4.String())
	sipguard(t, lab, bin, "ban", "203.0.113.0/24", "--for", "5m")
	if reaches(t, lab, netlab.Attacker4) || reaches(t, lab, outside) {
		t.Error("an address in the banned network reached the PBX")
	}
	if bans := sipguard(t, lab, bin, "--api", sock, "bans"); !strings.Contains(bans, "203.0.113.0/24") {
		t.Errorf("bans does not show the network:\n%s", bans)
	}
	out := sipguard(t, lab, bin, "--api", sock, "unban", netlab.Other4.String(), netlab.Carrier4.String())
	if !strings.Contains(out, "unbanned 1") || !strings.Contains(out, netlab.Carrier4.String()+": not banned") {
		t.Errorf("unban:\n%s", out)
	}
	if !reaches(t, lab, netlab.Other4) || !reaches(t, lab, netlab.Attacker4) {
		t.Error("the unbanned address's /28 is still banned")
	}
	if reaches(t, lab, outside) {
		t.Error("unbanning one address lifted the rest of the network")
	}
}
