// Package netlab builds throwaway network labs out of Linux network
// namespaces, for tests and for the demo.
//
// A lab is three namespaces joined by veth pairs, the box's place in an office
// network:
//
//	wan host (the internet, behind the modem)   box (bridge br0)        pbx host (the office)
//	eth0 192.0.2.1/24 ─────────── veth ───────── wan ─ br0 ─ lan ───── veth ───── eth0 192.0.2.10/24
//	lo   198.51.100.10 (carrier)                                                   default via 192.0.2.1
//	lo   203.0.113.66  (attacker)
//
// The wan host plays the modem: it owns the office's gateway address and, on
// its loopback, the addresses of internet hosts (a carrier and an attacker),
// so packets from those sources cross the box exactly as internet traffic
// would. All addresses come from the documentation ranges. Nothing in a lab
// is linked to the namespace that created it and no route leads out.
//
// Labs are built with the ip command (iproute2), the same tool an operator
// would use; sockets are opened inside a namespace with [NS.Do].
package netlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// Addresses used in every lab.
var (
	Gateway4  = netip.MustParseAddr("192.0.2.1")
	BoxMgmt4  = netip.MustParseAddr("192.0.2.2")
	PBX4      = netip.MustParseAddr("192.0.2.10")
	Carrier4  = netip.MustParseAddr("198.51.100.10")
	Attacker4 = netip.MustParseAddr("203.0.113.66")
	Other4    = netip.MustParseAddr("203.0.113.77")

	Gateway6  = netip.MustParseAddr("2001:db8:1::1")
	BoxMgmt6  = netip.MustParseAddr("2001:db8:1::2")
	PBX6      = netip.MustParseAddr("2001:db8:1::10")
	Carrier6  = netip.MustParseAddr("2001:db8:c::10")
	Attacker6 = netip.MustParseAddr("2001:db8:bad:1::66")
	Sibling6  = netip.MustParseAddr("2001:db8:bad:1::99") // the attacker's /64
	Other6    = netip.MustParseAddr("2001:db8:bad:2::77")
)

// Interface names inside the box namespace.
const (
	WANPort = "wan"
	LANPort = "lan"
	HostIf  = "eth0" // the single interface of the wan and pbx hosts
)

// NS is one network namespace of a lab.
type NS struct {
	Name   string
	handle netns.NsHandle
}

// Lab is a wan host, a box and a pbx host, each in its own namespace.
type Lab struct {
	WAN, Box, PBX *NS
}

// New creates a lab whose namespace names start with prefix (which should be
// unique on the machine; see [UniquePrefix]). On error, whatever was created
// is removed again.
func New(ctx context.Context, prefix string) (lab *Lab, err error) {
	lab = &Lab{}
	defer func() {
		if err != nil {
			err = errors.Join(err, lab.Close())
			lab = nil
		}
	}()
	for _, p := range []struct {
		dst  **NS
		role string
	}{{&lab.WAN, "wan"}, {&lab.Box, "box"}, {&lab.PBX, "pbx"}} {
		ns, err := newNS(ctx, prefix+"-"+p.role)
		if err != nil {
			return lab, err
		}
		// No duplicate address detection: the lab's addresses are unique
		// by construction, and DAD would hold IPv6 back for a second.
		if _, err := ns.Output(ctx, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"); err != nil {
			return lab, err
		}
		*p.dst = ns
	}
	w, b, p := lab.WAN.Name, lab.Box.Name, lab.PBX.Name
	steps := [][]string{
		// veth pairs are created inside the host namespaces, with their peers
		// placed straight into the box: nothing touches the caller's namespace.
		{"-n", w, "link", "add", HostIf, "type", "veth", "peer", "name", WANPort, "netns", b},
		{"-n", p, "link", "add", HostIf, "type", "veth", "peer", "name", LANPort, "netns", b},
		{"-n", w, "link", "set", "lo", "up"},
		{"-n", b, "link", "set", "lo", "up"},
		{"-n", p, "link", "set", "lo", "up"},
		{"-n", w, "addr", "add", Gateway4.String() + "/24", "dev", HostIf},
		{"-n", w, "addr", "add", Gateway6.String() + "/64", "dev", HostIf, "nodad"},
		{"-n", w, "addr", "add", Carrier4.String() + "/32", "dev", "lo"},
		{"-n", w, "addr", "add", Attacker4.String() + "/32", "dev", "lo"},
		{"-n", w, "addr", "add", Other4.String() + "/32", "dev", "lo"},
		{"-n", w, "addr", "add", Carrier6.String() + "/128", "dev", "lo"},
		{"-n", w, "addr", "add", Attacker6.String() + "/128", "dev", "lo"},
		{"-n", w, "addr", "add", Sibling6.String() + "/128", "dev", "lo"},
		{"-n", w, "addr", "add", Other6.String() + "/128", "dev", "lo"},
		{"-n", p, "addr", "add", PBX4.String() + "/24", "dev", HostIf},
		{"-n", p, "addr", "add", PBX6.String() + "/64", "dev", HostIf, "nodad"},
		{"-n", w, "link", "set", HostIf, "up"},
		{"-n", p, "link", "set", HostIf, "up"},
		{"-n", p, "route", "add", "default", "via", Gateway4.String()},
		{"-n", p, "-6", "route", "add", "default", "via", Gateway6.String()},
	}
	for _, args := range steps {
		if err := IP(ctx, args...); err != nil {
			return lab, err
		}
	}
	return lab, nil
}

// Close deletes the lab's namespaces, and with them every interface inside.
func (l *Lab) Close() error {
	var errs []error
	for _, ns := range []*NS{l.WAN, l.Box, l.PBX} {
		if ns != nil {
			errs = append(errs, ns.close())
		}
	}
	return errors.Join(errs...)
}

// UniquePrefix returns a short namespace prefix that no other lab on this
// machine uses, e.g. "sg3fa1".
func UniquePrefix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "sg" + hex.EncodeToString(b[:])
}

func newNS(ctx context.Context, name string) (*NS, error) {
	if err := IP(ctx, "netns", "add", name); err != nil {
		return nil, err
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		_ = IP(context.Background(), "netns", "del", name)
		return nil, fmt.Errorf("open namespace %s: %w", name, err)
	}
	return &NS{Name: name, handle: h}, nil
}

func (n *NS) close() error {
	_ = n.handle.Close()
	return IP(context.Background(), "netns", "del", n.Name)
}

// Handle returns the namespace handle; it stays valid until the lab is closed.
func (n *NS) Handle() netns.NsHandle { return n.handle }

// Fd returns the namespace's file descriptor, for APIs that take one
// (nftables.WithNetNSFd, netlink.NewHandleAt).
func (n *NS) Fd() int { return int(n.handle) }

// Do runs fn on an OS thread that has entered the namespace. Sockets that fn
// opens belong to the namespace and keep working after Do returns. The thread
// is returned to the caller's namespace afterwards, or discarded if that
// fails, so no goroutine is ever left inside a lab.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(n.handle); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace %s: %w", n.Name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it exits with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("leave namespace %s: %w", n.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Command returns a command that runs inside the namespace (ip netns exec)
// in a process group of its own, so that Stop, or ctx, ends it together
// with every process it forks.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Stop ends a started command and the processes it forked: SIGTERM to its
// process group, SIGKILL if it is still there after grace. It returns the
// command's exit error, if it ended with one other than the signal.
func Stop(cmd *exec.Cmd, grace time.Duration) error {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("%s did not stop within %v: killed", cmd.Args[3], grace)
	}
}

// Output runs a command inside the namespace and returns its standard output;
// the error carries standard error.
func (n *NS) Output(ctx context.Context, name string, args ...string) ([]byte, error) {
	return output(n.Command(ctx, name, args...))
}

// IP runs the ip command with args.
func IP(ctx context.Context, args ...string) error {
	_, err := output(exec.CommandContext(ctx, "ip", args...))
	return err
}

func output(cmd *exec.Cmd) ([]byte, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// WaitLinks waits until the hosts' interfaces and the box's ports report
// carrier (operstate UP). The kernel turns a link on up to a second after
// its peer came up; frames sent before that are lost, as on a cable just
// plugged in.
func (l *Lab) WaitLinks(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, link := range []struct {
		ns  *NS
		dev string
	}{{l.WAN, HostIf}, {l.PBX, HostIf}, {l.Box, WANPort}, {l.Box, LANPort}} {
		for {
			out, err := link.ns.Output(ctx, "ip", "-j", "link", "show", "dev", link.dev)
			if err != nil {
				return err
			}
			var links []struct {
				OperState string `json:"operstate"`
			}
			if err := json.Unmarshal(out, &links); err != nil {
				return fmt.Errorf("parse ip -j link: %w", err)
			}
			if len(links) == 1 && links[0].OperState == "UP" {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: %s has no carrier: %w", link.ns.Name, link.dev, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// Buffer collects a command's output safely while the command runs.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RouteFrom makes the wan host send to the office from src (one of its
// addresses), for tools that cannot be told which address to use.
func (l *Lab) RouteFrom(ctx context.Context, src netip.Addr) error {
	if src.Is4() {
		return IP(ctx, "-n", l.WAN.Name, "route", "replace", "192.0.2.0/24", "dev", HostIf, "src", src.String())
	}
	return IP(ctx, "-n", l.WAN.Name, "-6", "route", "replace", "2001:db8:1::/64", "dev", HostIf, "src", src.String())
}
