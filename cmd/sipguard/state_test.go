package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// A state file that cannot be used at start is moved aside: the box
// protects with its configuration on a fresh state file, and says so.
func TestCorruptStateFileAtStart(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	dir := t.TempDir()
	sock, state := filepath.Join(dir, "api.sock"), filepath.Join(dir, "data", "state.db")
	if err := os.MkdirAll(filepath.Dir(state), 0o700); err != nil {
		t.Fatal(err)
	}
	garbage := bytes.Repeat([]byte("not a state file; "), 1000)
	if err := os.WriteFile(state, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	_, log, stop := launchDaemon(t, lab, bin, "--api", sock, "--state", state, "--deny", netlab.Attacker4.String())

	table, err := lab.Box.Output(context.Background(), "nft", "list", "table", "bridge", netfilter.TableName)
	if err != nil {
		t.Fatalf("nft list table: %v", err)
	}
	if !strings.Contains(string(table), netlab.Attacker4.String()) {
		t.Errorf("the configuration's deny list is not in the ruleset:\n%s", table)
	}
	if reaches(t, lab, netlab.Attacker4) {
		t.Error("a denied address crossed the box")
	}
	if !reaches(t, lab, netlab.Carrier4) {
		t.Error("the box does not forward")
	}

	moved := state + ".corrupt-"
	status := sipguard(t, lab, bin, "--api", sock, "status")
	if !strings.Contains(status, "STATE FILE: moved aside: damaged") || !strings.Contains(status, moved) {
		t.Errorf("status does not say the state file was moved aside:\n%s", status)
	}
	var st api.Status
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.State == nil || !strings.HasPrefix(st.State.MovedAside, moved) || !st.State.Kept || st.State.Path != state {
		t.Fatalf("status --json state: %+v", st.State)
	}
	if b, err := os.ReadFile(st.State.MovedAside); err != nil || !bytes.Equal(b, garbage) {
		t.Errorf("the file moved aside lost its content: %d bytes, %v", len(b), err)
	}
	if !strings.Contains(log.String(), "moved aside") {
		t.Errorf("the log does not say it:\n%s", log.String())
	}
	// The fresh state file works: a list change is kept.
	if out := sipguard(t, lab, bin, "--api", sock, "ban", netlab.Attacker4.Next().String(), "--for", "5m"); !strings.Contains(out, "banned 1") {
		t.Errorf("ban: %q", out)
	}
	stop()

	// The next start uses the fresh file: no warning, the file of before
	// still listed as set aside.
	_, _, stop = launchDaemon(t, lab, bin, "--api", sock, "--state", state)
	st = api.Status{}
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.State == nil || st.State.Note != "" || st.State.MovedAside != "" || len(st.State.SetAside) != 1 {
		t.Errorf("status after a restart: %+v", st.State)
	}
	stop()
}

// A disk that takes no state file at all: the box protects, with its
// state in memory, and says so.
func TestNoStateFilePossible(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	dir := t.TempDir()
	blocker := filepath.Join(dir, "data")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil { // a file where the folder should be
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "api.sock")
	startDaemon(t, lab, bin, "--api", sock, "--state", filepath.Join(blocker, "state.db"), "--deny", netlab.Attacker4.String())
	if reaches(t, lab, netlab.Attacker4) {
		t.Error("a denied address crossed the box")
	}
	status := sipguard(t, lab, bin, "--api", sock, "status")
	if !strings.Contains(status, "STATE FILE: not kept") {
		t.Errorf("status does not say nothing is kept:\n%s", status)
	}
}
