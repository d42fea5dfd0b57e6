package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// registrar is Kamailio from Debian running in the lab's pbx namespace,
// with digest authentication for extensions 1001 and 1002.
type registrar struct{ log netlab.Buffer }

var requestLine = regexp.MustCompile(`REQ (\S+) from (\S+) ext (\S*) creds (\d*)`)

// requests counts the requests of a method from src that reached the
// registrar, and how many of them carried credentials.
func (r *registrar) requests(method string, src netip.Addr) (all, withCreds int) {
	for _, m := range requestLine.FindAllStringSubmatch(r.log.String(), -1) {
		if m[1] == method && m[2] == src.String() {
			all++
			if m[4] != "" && m[4] != "0" {
				withCreds++
			}
		}
	}
	return all, withCreds
}

func startRegistrar(t *testing.T, lab *netlab.Lab) *registrar {
	t.Helper()
	kamailio := netlab.RequireTool(t, "kamailio")
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kamailio", "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := filepath.Abs(filepath.Join("..", "..", "testdata", "kamailio", "db"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("@DBDIR@", db, "@LISTEN4@", netlab.PBX4.String(), "@LISTEN6@", netlab.PBX6.String()).Replace(string(cfg))
	if err := os.WriteFile(filepath.Join(dir, "kamailio.cfg"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &registrar{}
	cmd := lab.PBX.Command(context.Background(), kamailio, "-f", filepath.Join(dir, "kamailio.cfg"), "-DD", "-E",
		"-w", dir, "-P", filepath.Join(dir, "pid"), "-m", "32", "-M", "8")
	cmd.Stdout, cmd.Stderr = &r.log, &r.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = netlab.Stop(cmd, 5*time.Second)
		if t.Failed() {
			t.Logf("kamailio log:\n%s", r.log.String())
		}
	})
	// Ready when it answers an OPTIONS from the office side.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := lab.PBX.DialUDP(netlab.PBX4, netip.AddrPortFrom(netlab.PBX4, 5060))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fmt.Fprintf(c, "OPTIONS sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP %v;branch=z9hG4bKready\r\nFrom: <sip:t@x>;tag=1\r\nTo: <sip:t@x>\r\nCall-ID: ready\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", c.LocalAddr())
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _ := c.Read(make([]byte, 1500))
		c.Close()
		if n > 0 {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio did not answer within 10s:\n%s", r.log.String())
		}
	}
}

// attack runs an attack tool on the wan host, from the attacker's address,
// bounded in time.
func attack(t *testing.T, lab *netlab.Lab, tool string, args ...string) string {
	t.Helper()
	path := netlab.RequireTool(t, tool)
	if err := lab.RouteFrom(context.Background(), netlab.Attacker4); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := lab.WAN.Command(ctx, path, args...).CombinedOutput()
	return string(out)
}

func TestScannerBannedAtFirstPacket(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	stop := startDaemon(t, lab, bin)

	attack(t, lab, "svmap", "-b", netlab.Attacker4.String(), "-p", "5060", netlab.PBX4.String())
	all, _ := reg.requests("OPTIONS", netlab.Attacker4)
	if all > 1 {
		t.Errorf("%d scanner requests reached the registrar, want at most 1", all)
	}
	if bans := sipguard(t, lab, bin, "bans"); !strings.Contains(bans, netlab.Attacker4.String()+"/32") {
		t.Errorf("the scanner is not banned:\n%s", bans)
	}
	if log := stop(); !strings.Contains(log, "scanner User-Agent") {
		t.Errorf("no ban event in the log:\n%s", log)
	}
}

func TestPasswordGuessingBanned(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	// No scanner names: the ban must come from the registrar's answers.
	stop := startDaemon(t, lab, bin, "--scanner-agents", "none", "--register-limit", "5")

	dict := filepath.Join(t.TempDir(), "passwords.txt")
	var words []string
	for i := range 40 {
		words = append(words, fmt.Sprintf("guess%02d", i))
	}
	words = append(words, "s3cret-1001") // it must never get this far
	if err := os.WriteFile(dict, []byte(strings.Join(words, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := attack(t, lab, "svcrack", "-u", "1001", "-d", dict, "-b", netlab.Attacker4.String(), "--maximumtime", "3", netlab.PBX4.String())
	if strings.Contains(out, "s3cret-1001") {
		t.Fatalf("svcrack found the password:\n%s", out)
	}
	_, guesses := reg.requests("REGISTER", netlab.Attacker4)
	t.Logf("%d password guesses reached the registrar", guesses)
	if guesses < 6 || guesses > 7 {
		t.Errorf("%d password guesses reached the registrar; want the 6 that cross the limit of 5, plus at most one in flight", guesses)
	}
	if log := stop(); !strings.Contains(log, "REGISTER brute force") {
		t.Errorf("no ban event in the log:\n%s", log)
	}
}
