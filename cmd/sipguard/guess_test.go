package main

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
	"github.com/sipguard/sipguard/sip"
)

// guessesAt counts the REGISTERs with credentials for ext from src that
// reached the registrar: the passwords it judged.
func guessesAt(reg *netlab.Registrar, src netip.Addr, ext string) int {
	re := regexp.MustCompile(`REQ REGISTER from ` + regexp.QuoteMeta(src.String()) + ` ext ` + regexp.QuoteMeta(ext) + ` creds [1-9]`)
	return len(re.FindAllString(reg.Log.String(), -1))
}

// banned reports whether the daemon's dynamic bans list src.
func banned(t *testing.T, lab *netlab.Lab, bin string, src netip.Addr) bool {
	t.Helper()
	return strings.Contains(sipguard(t, lab, bin, "bans"), src.String()+"/")
}

// Wrong passwords one every 8 seconds from a source that never
// authenticated stay under the minute rule, and far under the hourly one:
// the slow-guessing bucket (4 an hour) bans the 5th, as fail2ban's stock
// jail would (5 within 10 minutes), and the 6th guess never reaches the
// PBX.
func TestSlowGuessingBanned(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	stop := startDaemon(t, lab, bin, "--scanner-agents", "none")
	limit := sip.DefaultRules().GuessLimit

	next := time.Now()
	for i := 1; i <= limit+2; i++ {
		if i <= limit+1 { // the guess after the ban follows it at once
			time.Sleep(time.Until(next))
		}
		next = time.Now().Add(8 * time.Second)
		if phone(t, lab, netlab.Attacker4, "1001", fmt.Sprintf("guess%d", i)) {
			t.Fatal("a wrong password registered")
		}
		switch isBanned := banned(t, lab, bin, netlab.Attacker4); {
		case i <= limit && isBanned:
			t.Fatalf("banned after %d failures, %d fit the bucket", i, limit)
		case i == limit+1 && !isBanned:
			t.Fatalf("not banned after %d failures 8 s apart", i)
		}
	}
	guesses := guessesAt(reg, netlab.Attacker4, "1001")
	t.Logf("%d wrong passwords, 8 s apart, reached the registrar", guesses)
	if guesses != limit+1 {
		t.Errorf("%d wrong passwords reached the registrar; want the %d that overflow the bucket, and not the one after the ban", guesses, limit+1)
	}
	if log := stop(); !strings.Contains(log, "slow guessing by a source that never authenticated") {
		t.Errorf("no slow-guessing ban in the log:\n%s", log)
	}
}

// A source that registers one account correctly, again and again, while
// guessing another account's password is banned: its tolerance is per
// account and a success does not refill it.
func TestOneValidAccountAttackerBanned(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	stop := startDaemon(t, lab, bin, "--scanner-agents", "none")
	rules := sip.DefaultRules()

	attempts, isBanned := 0, false
	for round := 0; round < 12 && !isBanned; round++ {
		if !phone(t, lab, netlab.Attacker4, "1001", "s3cret-1001") {
			t.Fatal("the account the attacker knows could not register")
		}
		for range 3 {
			attempts++
			if phone(t, lab, netlab.Attacker4, "1002", fmt.Sprintf("guess%02d", attempts)) {
				t.Fatal("a wrong password registered")
			}
			if isBanned = banned(t, lab, bin, netlab.Attacker4); isBanned {
				break
			}
		}
	}
	guesses := guessesAt(reg, netlab.Attacker4, "1002")
	t.Logf("%d wrong passwords for 1002 reached the registrar (of %d tried), between successful registrations of 1001", guesses, attempts)
	if !isBanned {
		t.Fatalf("not banned after %d wrong passwords", guesses)
	}
	// Tolerated up to trusted_failures, then counted as anyone's: the
	// minute rule's 6th bans.
	if bound := rules.TrustedFailures + rules.RegisterLimit + 1; guesses > bound {
		t.Errorf("%d wrong passwords reached the registrar, want at most %d", guesses, bound)
	}
	log := stop()
	for _, want := range []string{"failures from a source that registered successfully", "extension=1002", "REGISTER brute force"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// One extension registering successfully from three addresses within the
// window is a hijack: an alert by default, and with --hijack-action ban
// the third address is banned while the first two go on.
func TestHijackAlertAndBan(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	sources := []netip.Addr{netlab.Carrier4, netlab.Attacker4, netlab.Other4}

	stop := startDaemon(t, lab, bin, "--scanner-agents", "none")
	for _, src := range sources {
		if !phone(t, lab, src, "1001", "s3cret-1001") {
			t.Fatalf("1001 could not register from %v", src)
		}
	}
	if bans := sipguard(t, lab, bin, "bans"); strings.Contains(bans, "/32") {
		t.Errorf("an alert banned:\n%s", bans)
	}
	log := stop()
	if !strings.Contains(log, "extension registered from several sources") || !strings.Contains(log, "extension=1001") {
		t.Errorf("no hijack alert in the log:\n%s", log)
	}

	stop = startDaemon(t, lab, bin, "--scanner-agents", "none", "--hijack-action", "ban")
	for _, src := range sources {
		if !phone(t, lab, src, "1001", "s3cret-1001") {
			t.Fatalf("1001 could not register from %v", src)
		}
	}
	if !banned(t, lab, bin, netlab.Other4) {
		t.Error("the third source is not banned")
	}
	for _, src := range sources[:2] {
		if !phone(t, lab, src, "1001", "s3cret-1001") {
			t.Errorf("1001 could no longer register from %v, one of its first two sources", src)
		}
	}
	if banned(t, lab, bin, netlab.Carrier4) || banned(t, lab, bin, netlab.Attacker4) {
		t.Errorf("the first two sources were banned:\n%s", sipguard(t, lab, bin, "bans"))
	}
	if log := stop(); !strings.Contains(log, "extension registered from several sources") {
		t.Errorf("no hijack ban in the log:\n%s", log)
	}
}

// Guesses spread over several addresses of one /24, each address under
// the per-source rules, are counted for the network: past network_limit
// failures from at least 3 of its addresses the whole /24 is banned, an
// address of it that never sent anything included, and nothing outside it.
func TestNetworkGuessingBanned(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	// Two more addresses of the attacker's /24 on the wan host.
	spare, fresh := netip.MustParseAddr("203.0.113.88"), netip.MustParseAddr("203.0.113.99")
	for _, a := range []netip.Addr{spare, fresh} {
		if err := netlab.IP(t.Context(), "-n", lab.WAN.Name, "addr", "add", a.String()+"/32", "dev", "lo"); err != nil {
			t.Fatal(err)
		}
	}
	stop := startDaemon(t, lab, bin, "--scanner-agents", "none")
	if !phone(t, lab, netlab.Carrier4, "1001", "s3cret-1001") {
		t.Fatal("the office could not register")
	}
	rules := sip.DefaultRules()
	guessers := []netip.Addr{netlab.Attacker4, netlab.Other4, spare}
	network := netip.MustParsePrefix("203.0.113.0/24")

	// Round after round, each address one wrong password, paced so that no
	// address is slowed by its own hold: each stays inside its bucket.
	failures, isBanned := 0, false
	for round := 1; round <= rules.GuessLimit && !isBanned; round++ {
		for _, src := range guessers {
			time.Sleep(600 * time.Millisecond)
			if phone(t, lab, src, "1002", fmt.Sprintf("guess-%v-%d", src, round)) {
				t.Fatal("a wrong password registered")
			}
			failures++
			if isBanned = strings.Contains(sipguard(t, lab, bin, "bans"), network.String()); isBanned {
				break
			}
		}
	}
	judged := 0
	for _, src := range guessers {
		judged += guessesAt(reg, src, "1002")
	}
	t.Logf("%d wrong passwords from %d addresses of %v reached the registrar", judged, len(guessers), network)
	if !isBanned {
		t.Fatalf("%v not banned after %d failures from %d of its addresses (network_limit %d)", network, failures, len(guessers), rules.NetworkLimit)
	}
	if judged > rules.NetworkLimit+1 {
		t.Errorf("%d wrong passwords reached the registrar, want at most %d", judged, rules.NetworkLimit+1)
	}
	for _, src := range guessers {
		if banned(t, lab, bin, src) {
			t.Errorf("%v banned on its own: each address stayed inside its bucket", src)
		}
	}
	if phone(t, lab, fresh, "1001", "s3cret-1001") {
		t.Errorf("%v, in the banned network, still reached the PBX", fresh)
	}
	if !phone(t, lab, netlab.Carrier4, "1001", "s3cret-1001") {
		t.Error("the office, outside the network, was cut off")
	}
	if log := stop(); !strings.Contains(log, "guessing spread over a network") {
		t.Errorf("no network ban in the log:\n%s", log)
	}
}
