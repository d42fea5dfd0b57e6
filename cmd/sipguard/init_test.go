package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// bootInit starts sipguard as PID 1 of new PID, mount and UTS namespaces
// inside the lab's box, as the kernel starts it on the box, and waits until
// the service it supervises protects. It returns the init's PID (as seen
// from the test), its console, and the command that runs it (unshare).
func bootInit(t *testing.T, lab *netlab.Lab) (initPID int, console *netlab.Buffer, cmd *exec.Cmd) {
	t.Helper()
	netlab.RequireTool(t, "unshare")
	// Init mounts a tmpfs over /tmp, where test binaries live: the service
	// is started again from the binary's path, so it lives elsewhere.
	dir, err := os.MkdirTemp("/var/tmp", "sipguard-init-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "init")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	console = &netlab.Buffer{}
	cmd = lab.Box.Command(context.Background(), "unshare", "--pid", "--fork", "--mount", "--uts", "--kill-child", bin)
	cmd.Stdout, cmd.Stderr = console, console
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = netlab.Stop(cmd, 10*time.Second)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for initPID == 0 || !strings.Contains(console.String(), "protecting") {
		if time.Now().After(deadline) {
			t.Fatalf("init did not bring the service up in 20 s:\n%s", console)
		}
		time.Sleep(20 * time.Millisecond)
		if kids := childrenOf(cmd.Process.Pid); len(kids) == 1 {
			initPID = kids[0]
		}
	}
	return initPID, console, cmd
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so split after ')'.
		rest := b[strings.LastIndexByte(string(b), ')')+1:]
		f := strings.Fields(string(rest))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// inside runs a command in the init's namespaces (mounts, PID, UTS) and the
// box's network.
func inside(t *testing.T, initPID int, args ...string) string {
	t.Helper()
	full := append([]string{"--target", strconv.Itoa(initPID), "--mount", "--uts", "--pid", "--net"}, args...)
	out, err := exec.Command("nsenter", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestInitAsPID1(t *testing.T) {
	lab := netlab.NewT(t)
	initPID, console, cmd := bootInit(t, lab)
	bin := "/proc/1/exe" // the init's own binary, seen from inside

	if h := inside(t, initPID, "hostname"); strings.TrimSpace(h) != "sipguard" {
		t.Errorf("hostname %q", h)
	}
	if m := inside(t, initPID, "cat", "/proc/self/mounts"); !strings.Contains(m, "tmpfs /run tmpfs") || !strings.Contains(m, "proc /proc proc") {
		t.Errorf("mounts:\n%s", m)
	}
	if l := inside(t, initPID, "ip", "-br", "link", "show", "lo"); !strings.Contains(l, "UNKNOWN") && !strings.Contains(l, "UP") {
		t.Errorf("lo: %s", l)
	}
	// The service answers on its local API, as the watchdog's health check
	// asks it.
	if s := inside(t, initPID, bin, "status"); !strings.Contains(s, "Dynamic (temporary)") {
		t.Errorf("status through the API:\n%s", s)
	}
	if out := inside(t, initPID, bin, "ban", netlab.Attacker4.String(), "--for", "5m"); !strings.Contains(out, "banned 1") {
		t.Fatalf("ban: %s", out)
	}

	// The service dies: the ban stays in force meanwhile, and init starts
	// it again within a second.
	services := childrenOf(initPID)
	if len(services) != 1 {
		t.Fatalf("init's children: %v", services)
	}
	if err := syscall.Kill(services[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if reaches(t, lab, netlab.Attacker4) {
		t.Error("the ban ended with the service")
	}
	for {
		kids := childrenOf(initPID)
		if len(kids) == 1 && kids[0] != services[0] {
			break
		}
		if time.Since(killed) > 5*time.Second {
			t.Fatalf("service not restarted:\n%s", console)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Since(killed); d > time.Second+300*time.Millisecond {
		t.Errorf("service restarted after %v, want within a second", d)
	}
	t.Logf("service restarted %v after it was killed", time.Since(killed).Round(time.Millisecond))
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(console.String(), "protecting") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("restarted service not protecting:\n%s", console)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(console.String(), "service died") {
		t.Errorf("console does not say the service died:\n%s", console)
	}

	// SIGTERM asks init to reboot: it stops the service cleanly and
	// reboots, which, for the init of a PID namespace, the kernel turns into
	// its death by SIGHUP.
	if err := syscall.Kill(initPID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGHUP {
		t.Errorf("init ended with %v, want a reboot (SIGHUP):\n%s", err, console)
	}
	for _, want := range []string{"shutting down", "then=reboot", "left in force", "halting"} {
		if !strings.Contains(console.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
	if reaches(t, lab, netlab.Attacker4) {
		t.Error("bans ended with a reboot request; the box must keep protecting until the kernel restarts")
	}
}

func TestInitPowersOff(t *testing.T) {
	lab := netlab.NewT(t)
	initPID, console, cmd := bootInit(t, lab)
	if err := syscall.Kill(initPID, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	// For the init of a PID namespace, the kernel turns a power-off into
	// its death by SIGINT.
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
		t.Errorf("init ended with %v, want a power-off (SIGINT):\n%s", err, console)
	}
	if !strings.Contains(console.String(), "then=poweroff") {
		t.Errorf("console:\n%s", console)
	}
}
