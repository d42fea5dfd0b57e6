package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// A backup taken through the daemon puts the box back as it was: after
// the allow list is changed, the permanent ban lifted and the
// configuration changed, a restore brings back the configuration file's
// very bytes, both lists with their notes and the permanent ban, whose
// source is dropped again at once. A restore with a wrong password, or of
// a file with one byte changed, is refused and changes nothing.
func TestBackupAndRestore(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	dir := t.TempDir()
	sock, state, conf := filepath.Join(dir, "api.sock"), filepath.Join(dir, "state.db"), filepath.Join(dir, "sipguard.toml")
	const configText = "# the office box\n[sip]\nregister_limit = 5 # five a minute\n"
	if err := os.WriteFile(conf, []byte(configText), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o644); err != nil {
		t.Fatal(err)
	}
	stop := startDaemon(t, lab, bin, "--api", sock, "--state", state, "--config", conf,
		"--block-threshold", "1", "--scanner-agents", "none")
	cli := func(a ...string) string { return sipguard(t, lab, bin, append([]string{"--api", sock}, a...)...) }
	fails := func(a ...string) string {
		t.Helper()
		out, err := lab.Box.Command(context.Background(), bin, append([]string{"--api", sock}, a...)...).CombinedOutput()
		if err == nil {
			t.Errorf("sipguard %v succeeded:\n%s", a, out)
		}
		return string(out)
	}
	password := filepath.Join(dir, "password")
	if err := os.WriteFile(password, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cli("allow", "add", "198.51.100.0/24", "--note", "carrier trunks")
	cli("deny", "add", netlab.Other4.String(), "--note", "seen scanning")
	// Wrong passwords make the attacker's first ban, which the block
	// threshold of 1 makes permanent.
	attack(t, lab, "svcrack", "-u", "1001", "-d", wrongPasswords(t, 20), "--maximumtime", "3", netlab.PBX4.String())
	waitPermanent(t, lab, bin, sock, "1")
	if reaches(t, lab, netlab.Attacker4) || reaches(t, lab, netlab.Other4) {
		t.Fatal("the permanently banned attacker or the denied address reaches the PBX")
	}
	file := filepath.Join(dir, "box.age")
	cli("backup", "--out", file, "--password-file", password)
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v, want 0600", fi.Mode(), err)
	}
	lists := func() string { return cli("allow", "export") + "---\n" + cli("deny", "export") }
	permanent := func() []api.Ban {
		var b api.Bans
		if err := json.Unmarshal([]byte(cli("bans", "--json")), &b); err != nil {
			t.Fatal(err)
		}
		return b.Permanent
	}
	before, beforeBans := lists(), permanent()
	if len(beforeBans) != 1 || beforeBans[0].Source != netlab.Attacker4.String()+"/32" || beforeBans[0].Reason == "" {
		t.Fatalf("permanent bans: %+v", beforeBans)
	}

	// The box changes after the backup.
	cli("allow", "del", "198.51.100.0/24")
	cli("allow", "add", "198.51.100.77", "--note", "temporary")
	cli("unban", "--permanent", netlab.Attacker4.String())
	cli("config", "set", "sip.register_limit", "9")
	if !reaches(t, lab, netlab.Attacker4) {
		t.Fatal("the lifted permanent ban still drops")
	}
	changedText, _ := os.ReadFile(conf)
	changed := lists()
	unchanged := func(what string) {
		t.Helper()
		text, _ := os.ReadFile(conf)
		if string(text) != string(changedText) || lists() != changed || len(permanent()) != 0 || !reaches(t, lab, netlab.Attacker4) {
			t.Errorf("a restore of %s changed the box:\n%s\n%s\n%+v", what, text, lists(), permanent())
		}
	}

	wrong := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrong, []byte("not the right password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := fails("restore", file, "--password-file", wrong); !strings.Contains(out, "wrong password or not a sipguard backup") {
		t.Errorf("restore with a wrong password:\n%s", out)
	}
	unchanged("a wrong password")
	data, _ := os.ReadFile(file)
	data[len(data)-40] ^= 0x04
	tampered := filepath.Join(dir, "tampered.age")
	if err := os.WriteFile(tampered, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := fails("restore", tampered, "--password-file", password); !strings.Contains(out, "damaged or was changed") {
		t.Errorf("restore of a changed file:\n%s", out)
	}
	unchanged("a changed file")

	out := cli("restore", file, "--password-file", password)
	for _, want := range []string{"configuration file: replaced", "allow list: 1 entries", "deny list: 1 entries", "permanent bans: 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("restore says no %q:\n%s", want, out)
		}
	}
	if after := lists(); after != before {
		t.Errorf("lists after the restore:\n%s\nwant:\n%s", after, before)
	}
	if after := permanent(); len(after) != 1 || after[0].Source != beforeBans[0].Source || after[0].Reason != beforeBans[0].Reason || after[0].Bans != beforeBans[0].Bans {
		t.Errorf("permanent bans after the restore: %+v, want %+v", after, beforeBans)
	}
	if reaches(t, lab, netlab.Attacker4) {
		t.Error("the restored permanent ban does not drop its source")
	}
	if reaches(t, lab, netlab.Other4) {
		t.Error("the restored deny list is not in force")
	}
	text, _ := os.ReadFile(conf)
	if string(text) != configText {
		t.Errorf("configuration file after the restore:\n%s\nwant:\n%s", text, configText)
	}
	if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("configuration file: %v %v, want 0600", fi.Mode(), err)
	}
	if got := strings.TrimSpace(cli("config", "get", "sip.register_limit")); got != "5" {
		t.Errorf("sip.register_limit after the restore: %s", got)
	}
	log := stop()
	if !strings.Contains(log, "configuration applied") {
		t.Errorf("the daemon did not apply the restored configuration:\n%s", log)
	}
	if !strings.Contains(log, "readable by others than its owner") || strings.Count(log, "readable by others") != 1 {
		t.Errorf("the daemon did not warn once of its configuration file's mode:\n%s", log)
	}
}
