package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/leds"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// leds reads the board's LEDs through the daemon.
func readLEDs(t *testing.T, lab *netlab.Lab, bin, sock string) api.Board {
	t.Helper()
	var b api.Board
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "leds", "--json")), &b); err != nil {
		t.Fatal(err)
	}
	if b.LEDs == nil {
		t.Fatalf("no LEDs: %+v", b)
	}
	return b
}

func waitLEDs(t *testing.T, lab *netlab.Lab, bin, sock, what string, ok func(api.Board) bool) api.Board {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b := readLEDs(t, lab, bin, sock)
		if ok(b) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("LEDs never showed %s: %+v %+v", what, b, *b.LEDs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// On the simulated board the LEDs follow the box: green when it protects,
// amber after a real scanner is banned, red while the modem's cable is
// out; and a 10 s press of the button wipes the box back to its defaults.
func TestSimulatedBoard(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	dir := t.TempDir()
	sock, state, conf := filepath.Join(dir, "api.sock"), filepath.Join(dir, "state.db"), filepath.Join(dir, "sipguard.toml")
	// No management address: the lab has no DHCP server, and the LEDs
	// would show it after a while (TestDaemonWithoutDHCPServer).
	if err := os.WriteFile(conf, []byte("[ports]\nwan = \"wan\"\nlan = \"lan\"\n\n[management]\ndhcp = false\n\n[sip]\nregister_limit = 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, log, _ := launchDaemon(t, lab, bin, "--api", sock, "--state", state, "--config", conf)

	b := waitLEDs(t, lab, bin, sock, "protecting", func(b api.Board) bool { return b.LEDs.Mode == leds.Protecting })
	if b.Name != "sim" || !b.Simulated || b.LEDs.LEDs != 3 || !strings.Contains(b.Lit, "G●") {
		t.Errorf("board %+v, lit %q", b, b.Lit)
	}

	attack(t, lab, "svmap", "-p", "5060", netlab.PBX4.String())
	b = waitLEDs(t, lab, bin, sock, "the attack", func(b api.Board) bool { return b.LEDs.Mode == leds.Attack })
	if b.LEDs.LastBan.IsZero() || b.LEDs.Look != "amber steady" {
		t.Errorf("after a ban: %+v", *b.LEDs)
	}

	// The modem's cable out, then back.
	if err := netlab.IP(context.Background(), "-n", lab.WAN.Name, "link", "set", netlab.HostIf, "down"); err != nil {
		t.Fatal(err)
	}
	b = waitLEDs(t, lab, bin, sock, "the fault", func(b api.Board) bool { return b.LEDs.Mode == leds.Faulted })
	if b.LEDs.Faults != leds.FaultWANDown || !strings.Contains(b.Lit, "R●") {
		t.Errorf("wan down: faults %v, lit %q", b.LEDs.Faults, b.Lit)
	}
	if err := netlab.IP(context.Background(), "-n", lab.WAN.Name, "link", "set", netlab.HostIf, "up"); err != nil {
		t.Fatal(err)
	}
	waitLEDs(t, lab, bin, sock, "the fault cleared", func(b api.Board) bool { return b.LEDs.Faults == 0 })
	if err := lab.WaitLinks(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Something to lose: an allowlisted office.
	sipguard(t, lab, bin, "--api", sock, "allow", "add", netlab.Carrier4.String(), "--note", "office")
	if reaches(t, lab, netlab.Attacker4) {
		t.Fatal("the scanner is not banned")
	}
	// A short press is the lamp test, and changes nothing.
	sipguard(t, lab, bin, "--api", sock, "button", "press", "--hold", "300ms")
	waitLEDs(t, lab, bin, sock, "the status blink", func(b api.Board) bool { return b.LEDs.Mode == leds.StatusBlink })
	// Held 4 s then released: the countdown starts and is cancelled.
	sipguard(t, lab, bin, "--api", sock, "button", "press", "--hold", "4s")
	if out := sipguard(t, lab, bin, "--api", sock, "allow", "list"); !strings.Contains(out, netlab.Carrier4.String()) {
		t.Fatalf("a cancelled reset wiped the lists:\n%s", out)
	}
	// Held 10 s: the factory reset.
	sipguard(t, lab, bin, "--api", sock, "button", "press", "--hold", "10500ms")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(log.String(), "factory reset done") || strings.Count(log.String(), "msg=protecting") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no restart after the factory reset:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "allow", "list"); strings.Contains(out, netlab.Carrier4.String()) {
		t.Errorf("the allowlist survived the factory reset:\n%s", out)
	}
	if !reaches(t, lab, netlab.Attacker4) {
		t.Error("the ban survived the factory reset")
	}
	if data, _ := os.ReadFile(conf); !strings.Contains(string(data), "register_limit = 5") {
		t.Errorf("the configuration file is not the defaults:\n%s", data)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "report", "--json"); !strings.Contains(out, `"events": 0`) {
		t.Errorf("the attack log survived the factory reset:\n%s", out)
	}
}
