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
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// laptop runs the sipguard binary as a laptop would, in namespace ns, with
// its own config folder (where the pins are kept) and the token in
// $SIPGUARD_TOKEN. It returns stdout, stderr and the error.
func laptop(ns *netlab.NS, bin, config, token string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := ns.Command(ctx, bin, append([]string{"--box", netlab.BoxMgmt4.String()}, args...)...)
	cmd.Env = append(cmd.Env, "XDG_CONFIG_HOME="+config, "HOME="+config, "SIPGUARD_TOKEN="+token)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// The remote command line against the running box: from the office it
// pins the box's certificate on first use, by the fingerprint the box's
// console shows, and changes the box's lists and configuration file; a
// revoked token is refused by name; from the wan, outside the admin
// allowlist, it does not get through.
func TestRemoteCommandLine(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	dir := t.TempDir()
	sock, conf := filepath.Join(dir, "api.sock"), filepath.Join(dir, "sipguard.toml")
	const text = "# the office box\n[sip]\nregister_limit = 5 # five a minute\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	launchDaemon(t, lab, bin, "--api", sock, "--state", filepath.Join(dir, "state.db"), "--config", conf,
		"--mgmt-addr", netip.PrefixFrom(netlab.BoxMgmt4, 24).String())
	fp, _ := dashboardFingerprint(t, lab, bin, sock)
	token := strings.TrimSpace(sipguard(t, lab, bin, "--api", sock, "token", "create", "laptop"))
	config := t.TempDir()

	// The first use pins the certificate, and says so.
	out, errOut, err := laptop(lab.PBX, bin, config, token, "status", "--json")
	var st api.Status
	if err != nil || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "certificate SHA-256 "+fp+"; pinned") {
		t.Errorf("the first use does not say it pinned %s:\n%s", fp, errOut)
	}
	if st.Dashboard == nil || st.Dashboard.Fingerprint != fp {
		t.Errorf("the box's status through the API: %+v", st.Dashboard)
	}
	if out, _, err := laptop(lab.PBX, bin, config, token, "box", "list"); err != nil || !strings.Contains(out, fp) {
		t.Errorf("box list: %v\n%s", err, out)
	}
	// The second use checks the pin, silently.
	if _, errOut, err := laptop(lab.PBX, bin, config, token, "status"); err != nil || strings.Contains(errOut, "pinned") {
		t.Errorf("the second use: %v\n%s", err, errOut)
	}

	// Changes made from the laptop are the box's.
	if _, errOut, err := laptop(lab.PBX, bin, config, token, "allow", "add", "198.51.100.9", "--note", "x"); err != nil {
		t.Fatalf("allow add: %v\n%s", err, errOut)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "allow", "list"); !strings.Contains(out, "198.51.100.9/32") {
		t.Errorf("the box's allow list lacks the laptop's entry:\n%s", out)
	}
	if _, errOut, err := laptop(lab.PBX, bin, config, token, "config", "set", "sip.register_limit", "9"); err != nil {
		t.Fatalf("config set: %v\n%s", err, errOut)
	}
	if b, _ := os.ReadFile(conf); !strings.Contains(string(b), "register_limit = 9 # five a minute") {
		t.Errorf("the box's file after config set from the laptop:\n%s", b)
	}
	if _, errOut, err := laptop(lab.PBX, bin, config, token, "config", "set", "sip.register_limit", "abc"); err == nil {
		t.Error("a bad value was accepted")
	} else if b, _ := os.ReadFile(conf); !strings.Contains(string(b), "register_limit = 9 # five a minute") {
		t.Errorf("a refused value changed the file (%s):\n%s", errOut, b)
	}

	// Revoked on the box's console: refused, and the laptop says why.
	var toks []api.Token
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "token", "list", "--json")), &toks); err != nil || len(toks) != 1 {
		t.Fatalf("token list: %+v %v", toks, err)
	}
	sipguard(t, lab, bin, "--api", sock, "token", "revoke", toks[0].ID)
	if _, errOut, err := laptop(lab.PBX, bin, config, token, "status"); err == nil || !strings.Contains(errOut, api.ErrTokenRefused.Error()) {
		t.Errorf("a revoked token: %v\n%s", err, errOut)
	}

	// From the wan, not in the admin allowlist: the kernel drops the
	// connection; nothing is pinned.
	token2 := strings.TrimSpace(sipguard(t, lab, bin, "--api", sock, "token", "create", "outside"))
	wanConfig := t.TempDir()
	if out, errOut, err := laptop(lab.WAN, bin, wanConfig, token2, "status"); err == nil || !strings.Contains(errOut, "box 192.0.2.2:443: ") ||
		strings.Contains(errOut, "pinned") || strings.Contains(errOut, "refused the token") {
		t.Errorf("from the wan: %v\n%s\n%s", err, out, errOut)
	}
	if out, _, err := laptop(lab.WAN, bin, wanConfig, token2, "box", "list"); err != nil || strings.Contains(out, fp) {
		t.Errorf("a box pinned from the wan: %v\n%s", err, out)
	}
}
