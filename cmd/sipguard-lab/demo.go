package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// runDemo builds a lab, runs the sipguard daemon in its box, shows traffic
// crossing, bans the attacker by hand and shows its traffic dropped while
// everyone else's still flows. It tears the lab down before returning.
func runDemo(ctx context.Context, out io.Writer, bin, kamailio string, hold bool) (err error) {
	bin, err = filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("sipguard binary: %w (run make build)", err)
	}
	if os.Geteuid() != 0 {
		return errors.New("the lab creates network namespaces: run as root")
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	prefix := netlab.UniquePrefix()
	say("== building the lab: namespaces %s-wan, %s-box, %s-pbx", prefix, prefix, prefix)
	lab, err := netlab.New(ctx, prefix)
	if err != nil {
		return err
	}
	defer func() {
		say("== tearing the lab down")
		err = errors.Join(err, lab.Close())
	}()
	say("   wan host (internet): carrier %v, %v; attacker %v, %v", netlab.Carrier4, netlab.Carrier6, netlab.Attacker4, netlab.Attacker6)
	say("   pbx host (office):   %v, %v", netlab.PBX4, netlab.PBX6)

	say("== starting sipguard in the box: bridge br0 = wan + lan, management address %v", netlab.BoxMgmt4)
	var log netlab.Buffer
	run, err := os.MkdirTemp("", "sipguard-demo-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(run)
	socket := filepath.Join(run, "api.sock") // the demo's own, not the box's /run/sipguard
	daemon := lab.Box.Command(context.Background(), bin, "daemon", "--wan", netlab.WANPort, "--lan", netlab.LANPort, "--api", socket, "--no-feeds",
		"--mgmt-addr", netlab.BoxMgmt4.String()+"/24", "--mgmt-dhcp=false", "--ntp", "none", "--on-stop", "remove") // the lab has no DHCP or time server
	daemon.Stdout, daemon.Stderr = &log, &log
	if err := daemon.Start(); err != nil {
		return fmt.Errorf("start sipguard: %w", err)
	}
	defer func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		werr := daemon.Wait()
		say("-- sipguard log --\n%s------------------", log.String())
		if werr != nil {
			err = errors.Join(err, fmt.Errorf("sipguard daemon: %w", werr))
		}
	}()
	sipguard := func(args ...string) (string, error) {
		b, err := lab.Box.Output(ctx, bin, append([]string{"--api", socket}, args...)...)
		return string(b), err
	}
	if err := waitProtecting(ctx, sipguard, &log); err != nil {
		return err
	}
	if err := lab.WaitLinks(ctx); err != nil {
		return err
	}
	say("   protecting")

	flows := []flow{
		{"carrier  → PBX", lab.WAN, lab.PBX, netlab.Carrier4, netlab.PBX4},
		{"carrier  → PBX", lab.WAN, lab.PBX, netlab.Carrier6, netlab.PBX6},
		{"attacker → PBX", lab.WAN, lab.PBX, netlab.Attacker4, netlab.PBX4},
		{"attacker → PBX", lab.WAN, lab.PBX, netlab.Attacker6, netlab.PBX6},
		{"PBX → attacker", lab.PBX, lab.WAN, netlab.PBX4, netlab.Attacker4},
	}
	say("== sipguard status, before any attack")
	if st, err := sipguard("status"); err == nil {
		fmt.Fprint(out, indent(st))
	} else {
		return err
	}
	say("== the box's LEDs (the simulated board): green, protecting")
	if s, err := sipguard("leds"); err == nil {
		fmt.Fprint(out, indent(s))
	} else {
		return err
	}
	say("== SIP traffic (UDP 5060) before any ban")
	before := showFlows(out, flows)

	say("== banning the attacker by hand: sipguard ban %v %v --for 60s", netlab.Attacker4, netlab.Attacker6)
	if s, err := sipguard("ban", netlab.Attacker4.String(), netlab.Attacker6.String(), "--for", "60s"); err != nil {
		return err
	} else {
		fmt.Fprint(out, indent(s))
	}
	say("== SIP traffic after the ban (the kernel drops the attacker; the office side is never filtered)")
	after := showFlows(out, flows)

	if err := realAttack(ctx, out, lab, kamailio, &log); err != nil {
		return err
	}

	for _, args := range [][]string{{"bans"}, {"status"}, {"leds"}} {
		say("== sipguard %s, after the attacks", strings.Join(args, " "))
		s, err := sipguard(args...)
		if err != nil {
			return err
		}
		fmt.Fprint(out, indent(s))
	}
	want := []bool{true, true, true, true, true}
	wantAfter := []bool{true, true, false, false, true}
	for i := range flows {
		if before[i] != want[i] || after[i] != wantAfter[i] {
			return fmt.Errorf("%s (%v): before ban %v, after %v; want %v, %v", flows[i].name, flows[i].src, before[i], after[i], want[i], wantAfter[i])
		}
	}
	say("== demo passed: traffic crosses the bridge, and a ban drops the attacker within the same second")
	if hold {
		say("== the lab stays up until Ctrl-C; try for instance:")
		say("   ip netns exec %s %s status", lab.Box.Name, bin)
		say("   ip netns exec %s %s leds --watch 100ms", lab.Box.Name, bin)
		say("   ip netns exec %s %s button press --hold 10s   # the factory reset", lab.Box.Name, bin)
		say("   ip netns exec %s ping -I %v %v", lab.WAN.Name, netlab.Carrier4, netlab.PBX4)
		say("   ip netns exec %s nft list ruleset", lab.Box.Name)
		<-ctx.Done()
	}
	return nil
}

// realAttack runs SIPVicious's svmap against Kamailio behind the box
// (configured from kamailioDir), from a second attacker address, when both
// are installed, and shows that the scanner was banned at its first packet.
func realAttack(ctx context.Context, out io.Writer, lab *netlab.Lab, kamailioDir string, log *netlab.Buffer) error {
	svmap, err := exec.LookPath("svmap")
	if err != nil {
		fmt.Fprintln(out, "== (no real attack: install sipvicious and kamailio to see one)")
		return nil
	}
	if _, err := exec.LookPath("kamailio"); err != nil {
		fmt.Fprintln(out, "== (no real attack: install kamailio to see one)")
		return nil
	}
	work, err := os.MkdirTemp("", "sipguard-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	fmt.Fprintln(out, "== starting Kamailio as the office PBX (digest authentication, extensions 1001 and 1002)")
	reg, err := lab.StartRegistrar(ctx, kamailioDir, work)
	if err != nil {
		return err
	}
	defer reg.Stop()
	fmt.Fprintf(out, "== a real scan: svmap from %v (SIPVicious, as seen from the internet)\n", netlab.Other4)
	if err := lab.RouteFrom(ctx, netlab.Other4); err != nil {
		return err
	}
	attackCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	scan, _ := lab.WAN.Command(attackCtx, svmap, "-p", "5060", netlab.PBX4.String()).CombinedOutput()
	fmt.Fprint(out, indent(string(scan)))
	n, _ := reg.Requests("OPTIONS", netlab.Other4)
	fmt.Fprintf(out, "   requests of the scanner that reached the PBX: %d\n", n)
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, "msg=ban") {
			fmt.Fprintln(out, "   sipguard: "+line)
		}
	}
	if n > 1 || !strings.Contains(log.String(), netlab.Other4.String()) {
		return fmt.Errorf("the scanner was not stopped at its first packet (%d requests reached the PBX)", n)
	}
	return nil
}

func waitProtecting(ctx context.Context, sipguard func(...string) (string, error), log *netlab.Buffer) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := sipguard("status"); err == nil && strings.Contains(log.String(), "protecting") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sipguard did not start protecting within 10s:\n%s", log.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type flow struct {
	name     string
	from, to *netlab.NS
	src, dst netip.Addr
}

// showFlows sends one datagram per flow and prints whether it arrived.
func showFlows(out io.Writer, flows []flow) []bool {
	got := make([]bool, len(flows))
	for i, f := range flows {
		ok, err := netlab.UDPReaches(f.from, f.to, f.src, netip.AddrPortFrom(f.dst, 5060), 300*time.Millisecond)
		mark := "passes"
		switch {
		case err != nil:
			mark = "error: " + err.Error()
		case !ok:
			mark = "DROPPED"
		}
		fmt.Fprintf(out, "   %-15s %-22v → %-16v %s\n", f.name, f.src, f.dst, mark)
		got[i] = ok
	}
	return got
}

func indent(s string) string {
	return "   " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n   ") + "\n"
}
