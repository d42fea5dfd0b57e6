package main

import (
	"context"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// buildSipguard builds this command once per test into a temporary folder.
func buildSipguard(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sipguard")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startDaemon runs sipguard daemon in the lab's box and waits until it
// protects.
func startDaemon(t testing.TB, lab *netlab.Lab, bin string, args ...string) (stop func() string) {
	t.Helper()
	_, stop = startDaemonPID(t, lab, bin, args...)
	return stop
}

// startDaemonPID is startDaemon that also returns the daemon's process ID.
func startDaemonPID(t testing.TB, lab *netlab.Lab, bin string, args ...string) (pid int, stop func() string) {
	t.Helper()
	pid, _, stop = launchDaemon(t, lab, bin, args...)
	return pid, stop
}

// launchDaemon is startDaemon that also returns the daemon's process ID
// and its log as it grows.
func launchDaemon(t testing.TB, lab *netlab.Lab, bin string, args ...string) (pid int, log *netlab.Buffer, stop func() string) {
	t.Helper()
	log = &netlab.Buffer{}
	if !slices.Contains(args, "--api") { // never the box's own socket
		args = append(args, "--api", filepath.Join(t.TempDir(), "api.sock"))
	}
	// The lab has no internet to fetch the default blocklists from:
	// --no-feeds (feeds.defaults = false) leaves only a file's own feeds.
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--no-feeds") }) {
		args = append(args, "--no-feeds")
	}
	cmd := lab.Box.Command(context.Background(), bin, append([]string{"daemon", "--wan", netlab.WANPort, "--lan", netlab.LANPort}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() string {
		if stopped {
			return log.String()
		}
		stopped = true
		// A daemon a test killed with SIGKILL is not an error.
		if err := netlab.Stop(cmd, 10*time.Second); err != nil && !strings.Contains(err.Error(), "signal: killed") {
			t.Errorf("daemon exited with %v:\n%s", err, log.String())
		}
		return log.String()
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "protecting") {
		if time.Now().After(deadline) {
			t.Fatalf("daemon not protecting after 10s:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := lab.WaitLinks(context.Background()); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid, log, stop // ip netns exec has exec'ed sipguard: same process
}

func sipguard(t testing.TB, lab *netlab.Lab, bin string, args ...string) string {
	t.Helper()
	out, err := lab.Box.Output(context.Background(), bin, args...)
	if err != nil {
		t.Fatalf("sipguard %v: %v", args, err)
	}
	return string(out)
}

func reaches(t *testing.T, lab *netlab.Lab, src netip.Addr) bool {
	t.Helper()
	dst := netlab.PBX4
	if src.Is6() {
		dst = netlab.PBX6
	}
	// Not a SIP port: the PBX may be listening on 5060, and a ban drops all.
	ok, err := netlab.UDPReaches(lab.WAN, lab.PBX, src, netip.AddrPortFrom(dst, 5099), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// A restart keeps bans in force (the default), and "--on-stop remove"
// takes the ruleset out while the bridge keeps forwarding.
func TestDaemonRestartKeepsBansAndRemoveLeavesBridge(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)

	stop := startDaemon(t, lab, bin)
	if out := sipguard(t, lab, bin, "ban", netlab.Attacker4.String(), "--for", "5m"); !strings.Contains(out, "banned 1") {
		t.Errorf("ban: %q", out)
	}
	if reaches(t, lab, netlab.Attacker4) {
		t.Fatal("banned attacker reached the PBX")
	}
	if log := stop(); !strings.Contains(log, "left in force") {
		t.Errorf("stop log: %s", log)
	}
	if reaches(t, lab, netlab.Attacker4) {
		t.Error("the ban ended with the daemon")
	}
	if !reaches(t, lab, netlab.Carrier4) {
		t.Error("traffic stopped with the daemon: the box must fail open")
	}

	stop = startDaemon(t, lab, bin, "--on-stop", "remove", "--allow", netlab.Carrier6.String())
	if reaches(t, lab, netlab.Attacker4) {
		t.Error("the ban did not survive the daemon's restart")
	}
	bans := sipguard(t, lab, bin, "bans")
	if !strings.Contains(bans, netlab.Attacker4.String()+"/32") {
		t.Errorf("bans after restart:\n%s", bans)
	}
	status := sipguard(t, lab, bin, "status")
	for _, want := range []string{"| Allow               |          1 |", "| Dynamic (temporary) |          1 |"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	stop()
	if !reaches(t, lab, netlab.Attacker4) || !reaches(t, lab, netlab.Carrier6) {
		t.Error("after a stop with --on-stop remove, traffic must flow unfiltered across the bridge")
	}
	if out, err := lab.Box.Output(context.Background(), bin, "status"); err == nil || !strings.Contains(err.Error(), "is the daemon running?") {
		t.Errorf("status with no ruleset: %v\n%s", err, out)
	}
}

// serveInBox serves h over HTTP on the box namespace's loopback until the
// test ends, and returns its address: what the daemon downloads from.
func serveInBox(t *testing.T, lab *netlab.Lab, h http.Handler) string {
	t.Helper()
	ln, err := lab.Box.ListenLocal(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
