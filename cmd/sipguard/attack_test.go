package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// registerScenario is the sipp scenario of a phone registering.
func registerScenario(t *testing.T) string {
	t.Helper()
	scenario, err := filepath.Abs(filepath.Join("..", "..", "testdata", "sipp", "register.xml"))
	if err != nil {
		t.Fatal(err)
	}
	return scenario
}

// wrongPasswords writes a dictionary of n wrong passwords for svcrack.
func wrongPasswords(t *testing.T, n int) string {
	t.Helper()
	dict := filepath.Join(t.TempDir(), "passwords.txt")
	if err := os.WriteFile(dict, []byte(strings.Repeat("wrong\n", n)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dict
}

func startRegistrar(t testing.TB, lab *netlab.Lab) *netlab.Registrar {
	t.Helper()
	netlab.RequireTool(t, "kamailio")
	r, err := lab.StartRegistrar(context.Background(), filepath.Join("..", "..", "testdata", "kamailio"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Stop()
		if t.Failed() {
			t.Logf("kamailio log:\n%s", r.Log.String())
		}
	})
	return r
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
	all, _ := reg.Requests("OPTIONS", netlab.Attacker4)
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
	_, guesses := reg.Requests("REGISTER", netlab.Attacker4)
	t.Logf("%d password guesses reached the registrar", guesses)
	// The attacker never authenticated: its 5th failure overflows the
	// slow-guessing bucket of 4, before the minute rule's 6th.
	if guesses < 5 || guesses > 6 {
		t.Errorf("%d password guesses reached the registrar; want the 5 that overflow the slow-guessing bucket of 4, plus at most one in flight", guesses)
	}
	if log := stop(); !strings.Contains(log, "slow guessing") {
		t.Errorf("no ban event in the log:\n%s", log)
	}
}

// phone registers an extension with sipp from src, as a desk phone does,
// and reports whether the registrar accepted it.
func phone(t *testing.T, lab *netlab.Lab, src netip.Addr, ext, password string) bool {
	t.Helper()
	sipp := netlab.RequireTool(t, "sipp")
	scenario := registerScenario(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := lab.WAN.Command(ctx, sipp, "-sf", scenario, "-s", ext, "-au", ext, "-ap", password,
		"-i", src.String(), "-m", "1", "-timeout", "3s", "-nostdin", netlab.PBX4.String()+":5060")
	cmd.Dir = t.TempDir() // sipp writes its logs beside it
	return cmd.Run() == nil
}

// Phones keep registering before, during and after an attack; the phone of
// a deleted extension behind the office's NAT raises an alert and is not
// banned.
func TestLegitPhonesAndDeletedExtension(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	stop := startDaemon(t, lab, bin, "--scanner-agents", "none")

	office := netlab.Carrier4 // the office's public address, shared by its phones
	if !phone(t, lab, office, "1001", "s3cret-1001") {
		t.Fatal("a phone could not register before the attack")
	}
	dict := wrongPasswords(t, 30)
	done := make(chan struct{})
	go func() {
		defer close(done)
		attack(t, lab, "svcrack", "-u", "1002", "-d", dict, "--maximumtime", "3", netlab.PBX4.String())
	}()
	if !phone(t, lab, office, "1001", "s3cret-1001") {
		t.Error("a phone could not register during the attack")
	}
	<-done
	if !phone(t, lab, office, "1001", "s3cret-1001") {
		t.Error("a phone could not register after the attack")
	}
	for range 6 { // extension 1009 was deleted, its phone still tries
		if phone(t, lab, office, "1009", "old-password") {
			t.Fatal("a deleted extension registered")
		}
	}
	if !phone(t, lab, office, "1001", "s3cret-1001") {
		t.Error("the office was cut off by its own deleted-extension phone")
	}
	bans := sipguard(t, lab, bin, "bans")
	if strings.Contains(bans, office.String()) || !strings.Contains(bans, netlab.Attacker4.String()) {
		t.Errorf("bans: want the attacker, not the office:\n%s", bans)
	}
	log := stop()
	if !strings.Contains(log, "failures from a source that registered successfully") || !strings.Contains(log, "extension=1009") {
		t.Errorf("no alert for the deleted extension's phone:\n%s", log)
	}
}

// sippFrom runs sipp from src on the wan host against the registrar for
// at most d: once the box bans the source, sipp's calls never end.
func sippFrom(t *testing.T, lab *netlab.Lab, d time.Duration, src netip.Addr, args ...string) {
	t.Helper()
	sipp := netlab.RequireTool(t, "sipp")
	target := netip.AddrPortFrom(netlab.PBX4, 5060)
	if src.Is6() {
		target = netip.AddrPortFrom(netlab.PBX6, 5060)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := lab.WAN.Command(ctx, sipp, append(append([]string{"-i", src.String(), "-nostdin"}, args...), target.String())...)
	cmd.Dir = t.TempDir()
	_ = cmd.Run() // calls fail once the source is banned: that is the point
}

// Password guessing over IPv6 from addresses rotating inside one /64 is
// banned as one source, for the whole prefix.
func TestIPv6BruteForceBannedByPrefix(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	startDaemon(t, lab, bin, "--scanner-agents", "none")
	scenario := registerScenario(t)
	for _, src := range []netip.Addr{netlab.Attacker6, netlab.Sibling6} {
		sippFrom(t, lab, 3*time.Second, src, "-sf", scenario, "-s", "1001", "-au", "1001", "-ap", "guess", "-m", "4", "-r", "20")
	}
	_, a := reg.Requests("REGISTER", netlab.Attacker6)
	_, s := reg.Requests("REGISTER", netlab.Sibling6)
	t.Logf("guesses that reached the registrar: %d from %v, %d from %v", a, netlab.Attacker6, s, netlab.Sibling6)
	if a+s > 7 {
		t.Errorf("%d guesses from the /64 reached the registrar, want at most 7", a+s)
	}
	if bans := sipguard(t, lab, bin, "bans"); !strings.Contains(bans, "2001:db8:bad:1::/64") {
		t.Errorf("the /64 is not banned:\n%s", bans)
	}
}

// A request flood (sipp's INVITE scenario at 500 calls a second) is banned
// once it passes 50 requests a second with a burst of 100.
func TestRequestFloodBanned(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	stop := startDaemon(t, lab, bin)
	sippFrom(t, lab, 4*time.Second, netlab.Attacker4, "-sn", "uac", "-s", "1001", "-r", "500", "-m", "1500")
	// Each call is an INVITE and the ACK of Kamailio's 407 (which Kamailio
	// absorbs without logging): a burst of 100 requests is 50 calls.
	n, _ := reg.Requests("INVITE", netlab.Attacker4)
	t.Logf("%d flood INVITEs reached the registrar", n)
	if n < 45 || n > 65 {
		t.Errorf("%d flood INVITEs reached the registrar, want the burst of 100 requests (about 50 calls)", n)
	}

	// A REGISTER flood (a phone's registration at 500 a second) too.
	scenario := registerScenario(t)
	sippFrom(t, lab, 4*time.Second, netlab.Other4, "-sf", scenario, "-s", "1001", "-au", "1001", "-ap", "s3cret-1001", "-r", "500", "-m", "1500")
	regs, _ := reg.Requests("REGISTER", netlab.Other4)
	t.Logf("%d flood REGISTERs reached the registrar", regs)
	if regs < 90 || regs > 130 {
		t.Errorf("%d flood REGISTERs reached the registrar, want the burst of about 100", regs)
	}
	if bans := sipguard(t, lab, bin, "bans"); !strings.Contains(bans, netlab.Other4.String()) {
		t.Errorf("the REGISTER flood is not banned:\n%s", bans)
	}
	if log := stop(); !strings.Contains(log, "request flood") {
		t.Errorf("no flood ban in the log:\n%s", log)
	}
}

// An allowlisted address is never banned, whatever it sends.
func TestAllowlistedNeverBanned(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	startDaemon(t, lab, bin, "--allow", netlab.Attacker4.String())
	dict := wrongPasswords(t, 20)
	attack(t, lab, "svcrack", "-u", "1001", "-d", dict, "--maximumtime", "3", netlab.PBX4.String())
	if _, guesses := reg.Requests("REGISTER", netlab.Attacker4); guesses < 20 {
		t.Errorf("only %d of 20 guesses from an allowlisted address reached the registrar", guesses)
	}
	if bans := sipguard(t, lab, bin, "bans"); strings.Contains(bans, netlab.Attacker4.String()) {
		t.Errorf("an allowlisted address was banned:\n%s", bans)
	}
}

// Extension enumeration (svwar, REGISTER without credentials) is banned from
// the registrar's 404 answers.
func TestEnumerationBanned(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	stop := startDaemon(t, lab, bin, "--scanner-agents", "none")
	attack(t, lab, "svwar", "-e", "2000-2100", "-m", "REGISTER", "--maximumtime", "3", netlab.PBX4.String())
	n, _ := reg.Requests("REGISTER", netlab.Attacker4)
	t.Logf("%d enumeration requests reached the registrar", n)
	// A 404 is a failure of a source that never authenticated: the 5th
	// overflows the slow-guessing bucket of 4.
	if n > 7 {
		t.Errorf("%d enumeration requests reached the registrar, want the 5 that overflow the slow-guessing bucket and at most a couple in flight", n)
	}
	if log := stop(); !strings.Contains(log, "slow guessing") {
		t.Errorf("no ban in the log:\n%s", log)
	}
}

// Password guessing over one TCP connection is read through the TCP
// framing and banned like over UDP.
func TestBruteForceOverTCPBanned(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	startDaemon(t, lab, bin, "--scanner-agents", "none")
	scenario := registerScenario(t)
	sippFrom(t, lab, 4*time.Second, netlab.Attacker4, "-t", "t1", "-sf", scenario, "-s", "1001", "-au", "1001", "-ap", "guess", "-m", "12", "-r", "20")
	_, guesses := reg.Requests("REGISTER", netlab.Attacker4)
	t.Logf("%d guesses over TCP reached the registrar", guesses)
	if guesses < 5 || guesses > 6 { // the 5th overflows the slow-guessing bucket of 4
		t.Errorf("%d guesses over TCP reached the registrar, want 5 or 6", guesses)
	}
	if bans := sipguard(t, lab, bin, "bans"); !strings.Contains(bans, netlab.Attacker4.String()) {
		t.Errorf("not banned:\n%s", bans)
	}
}

// Bans outlive a SIGKILL of the daemon and a reboot (which empties the
// kernel), and the block threshold counts bans across restarts.
func TestStateSurvivesKillAndReboot(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	state := filepath.Join(t.TempDir(), "data", "state.db")
	args := []string{"--scanner-agents", "none", "--block-threshold", "2", "--block-time", "10m", "--state", state}
	dict := wrongPasswords(t, 20)
	guess := func() {
		attack(t, lab, "svcrack", "-u", "1001", "-d", dict, "--maximumtime", "2", netlab.PBX4.String())
	}

	pid, _ := startDaemonPID(t, lab, bin, args...)
	guess()
	time.Sleep(500 * time.Millisecond) // the state file is written just after the kernel
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A reboot: the kernel forgets everything.
	if _, err := lab.Box.Output(context.Background(), "nft", "delete", "table", "bridge", "sipguard"); err != nil {
		t.Fatal(err)
	}
	if !reaches(t, lab, netlab.Attacker4) {
		t.Fatal("the attacker is still banned after the table was deleted: the test cannot tell a restore")
	}

	startDaemon(t, lab, bin, args...)
	if reaches(t, lab, netlab.Attacker4) {
		t.Error("the dynamic ban did not come back after SIGKILL and reboot")
	}
	bans := sipguard(t, lab, bin, "bans")
	if !strings.Contains(bans, netlab.Attacker4.String()+"/32") {
		t.Fatalf("restored bans:\n%s", bans)
	}
	// Lift it by hand; the attacker tries again: its second ban reaches the
	// threshold of 2, counted across the restart, and is permanent.
	sipguard(t, lab, bin, "unban", netlab.Attacker4.String())
	guess()
	time.Sleep(500 * time.Millisecond)
	status := sipguard(t, lab, bin, "status")
	if !strings.Contains(status, "| Dynamic (permanent) |          1 |") {
		t.Errorf("the second ban, counted across the restart, is not permanent:\n%s", status)
	}
}

// The daemon runs from a configuration file; a flag given on the command
// line wins over it.
func TestDaemonFromConfigFile(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	reg := startRegistrar(t, lab)
	cfg := filepath.Join(t.TempDir(), "sipguard.toml")
	if err := os.WriteFile(cfg, []byte("[sip]\nregister_limit = 3\nblock_threshold = 20\nscanner_agents = [\"friendly-scanner\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The file bans scanners; the flag turns the names off, so the ban
	// must come from the limit of 3 in the file.
	stop := startDaemon(t, lab, bin, "--config", cfg, "--scanner-agents", "none")
	dict := wrongPasswords(t, 20)
	attack(t, lab, "svcrack", "-u", "1001", "-d", dict, "--maximumtime", "2", netlab.PBX4.String())
	if _, guesses := reg.Requests("REGISTER", netlab.Attacker4); guesses < 4 || guesses > 5 {
		t.Errorf("%d guesses reached the registrar, want the 4 that cross the file's limit of 3 (+1 in flight)", guesses)
	}
	if log := stop(); !strings.Contains(log, "REGISTER brute force") {
		t.Errorf("no brute-force ban (a scanner ban would mean the flag lost):\n%s", log)
	}
}

// A new configuration applies live on SIGHUP; a bad one changes nothing.
func TestConfigReload(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	cfg := filepath.Join(t.TempDir(), "sipguard.toml")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sipReaches := func(src netip.Addr) bool {
		ok, err := netlab.UDPReaches(lab.WAN, lab.PBX, src, netip.AddrPortFrom(netlab.PBX4, 5060), 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	write("[sip]\ntrusted_only = false\n")
	sock := filepath.Join(t.TempDir(), "api.sock")
	pid, stop := startDaemonPID(t, lab, bin, "--config", cfg, "--allow", netlab.Carrier4.String(), "--api", sock)
	if !sipReaches(netlab.Attacker4) {
		t.Fatal("SIP from anyone was dropped before trusted-only was set")
	}
	write("[sip]\ntrusted_only = true\n")
	hupAndWait := func() {
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	hupAndWait()
	if sipReaches(netlab.Attacker4) || !sipReaches(netlab.Carrier4) {
		t.Error("trusted-only SIP did not apply live (the allowlisted carrier, given as a flag, must still pass)")
	}
	write("[sip]\ntrusted_only = false\nbogus = 1\n")
	hupAndWait()
	if sipReaches(netlab.Attacker4) {
		t.Error("a bad file changed the settings in force")
	}
	// config set edits the daemon's file and has it applied at once; a bad
	// value leaves the file as it was.
	write("[sip]\ntrusted_only = true # carriers only\n")
	if out, err := lab.Box.Output(context.Background(), bin, "--api", sock, "config", "set", "sip.register_limit", "0"); err == nil || !strings.Contains(err.Error(), "register_limit") {
		t.Errorf("config set of a bad value: %v %s", err, out)
	}
	if data, _ := os.ReadFile(cfg); string(data) != "[sip]\ntrusted_only = true # carriers only\n" {
		t.Errorf("a refused config set changed the file: %q", data)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "config", "set", "sip.trusted_only", "false"); !strings.Contains(out, "written and applied") {
		t.Errorf("config set: %s", out)
	}
	if !sipReaches(netlab.Attacker4) {
		t.Error("config set did not apply live")
	}
	if data, _ := os.ReadFile(cfg); string(data) != "[sip]\ntrusted_only = false # carriers only\n" {
		t.Errorf("config set wrote %q", data)
	}
	log := stop()
	for _, want := range []string{"configuration applied", "bogus: unknown key", "the last one stays in force"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// Through the local API, status shows the inspection, and an unban reaches
// the detection and the state file: the ban does not come back.
func TestAPIStatusAndUnban(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	dir := t.TempDir()
	sock, state := filepath.Join(dir, "api.sock"), filepath.Join(dir, "state.db")
	args := []string{"--api", sock, "--state", state}
	stop := startDaemon(t, lab, bin, args...)
	attack(t, lab, "svmap", "-p", "5060", netlab.PBX4.String())
	status := sipguard(t, lab, bin, "--api", sock, "status")
	for _, want := range []string{"SIP INSPECTION", "| Dynamic (temporary) |          1 |", "| sources tracked"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	// The dynamic list shows the ban with its reason and User-Agent (the
	// state file is written just after the kernel), and the report counts it.
	var st struct {
		Bans api.Bans `json:"bans"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "status", "--dynamic", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		if b := st.Bans.Temporary; len(b) == 1 && b[0].Reason != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b := st.Bans.Temporary; len(b) != 1 || b[0].Source != "203.0.113.66/32" || b[0].Reason != "scanner User-Agent" || b[0].UserAgent != "friendly-scanner" ||
		b[0].Expires <= 0 {
		t.Errorf("status --dynamic --json: %+v", st.Bans)
	}
	var report api.Report
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "report", "--json")), &report); err != nil {
		t.Fatal(err)
	}
	if report.Attacks["scanner User-Agent"] != 1 || report.Bans != 1 || len(report.TopSources) != 1 || report.TopSources[0].Value != "203.0.113.66/32" ||
		len(report.TopUserAgents) != 1 || report.TopUserAgents[0].Value != "friendly-scanner" {
		t.Errorf("report --json: %+v", report)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "check", netlab.Attacker4.String()); !strings.Contains(out, "banned as 203.0.113.66/32") {
		t.Errorf("check of a banned scanner:\n%s", out)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "unblock", netlab.Attacker4.String()); !strings.Contains(out, "unbanned 1") || strings.Contains(out, "no daemon") {
		t.Errorf("unban: %s", out)
	}
	stop()
	startDaemon(t, lab, bin, args...)
	if !reaches(t, lab, netlab.Attacker4) {
		t.Error("a ban lifted through the API came back after a restart")
	}
}

// The allow and deny lists change through the daemon and apply at once,
// and survive a restart; an import is all or nothing.
func TestListsThroughTheDaemon(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	args := []string{"--api", sock, "--state", filepath.Join(dir, "state.db")}
	cli := func(a ...string) string { return sipguard(t, lab, bin, append([]string{"--api", sock}, a...)...) }
	stop := startDaemon(t, lab, bin, args...)

	cli("deny", "add", "203.0.113.0/24", "--note", "seen attacking")
	if reaches(t, lab, netlab.Attacker4) {
		t.Error("a denied network still reached the PBX")
	}
	csvFile := filepath.Join(dir, "allow.csv")
	if err := os.WriteFile(csvFile, []byte("# carriers\n203.0.113.66,\"carrier, backup trunk\"\n198.51.100.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli("allow", "import", csvFile)
	if !reaches(t, lab, netlab.Attacker4) || reaches(t, lab, netlab.Other4) {
		t.Error("the imported allowlist did not win over the deny list, or let the rest of the network through")
	}
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("192.0.2.1\nnonsense\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := lab.Box.Output(context.Background(), bin, "--api", sock, "allow", "import", bad); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad import: %v %s", err, out)
	}
	check := cli("check", netlab.Attacker4.String())
	for _, want := range []string{"on the allow list as 203.0.113.66/32 (carrier, backup trunk)", "on the deny list as 203.0.113.0/24 (seen attacking)"} {
		if !strings.Contains(check, want) {
			t.Errorf("check lacks %q:\n%s", want, check)
		}
	}
	if check := cli("check", netlab.PBX4.String()); !strings.Contains(check, "on no list") {
		t.Errorf("check of an address on no list:\n%s", check)
	}
	if list := cli("allow", "list", "--json"); strings.Contains(list, "192.0.2.1") || !strings.Contains(list, "carrier, backup trunk") {
		t.Errorf("allow list after a refused import:\n%s", list)
	}
	stop()
	startDaemon(t, lab, bin, args...)
	if exp := cli("deny", "export"); !strings.Contains(exp, "203.0.113.0/24,seen attacking") {
		t.Errorf("the deny list did not survive a restart:\n%s", exp)
	}
	if reaches(t, lab, netlab.Other4) {
		t.Error("the restored deny list is not in force")
	}
	cli("deny", "del", "--all", "--yes")
	if !reaches(t, lab, netlab.Other4) {
		t.Error("the emptied deny list still drops")
	}
}
