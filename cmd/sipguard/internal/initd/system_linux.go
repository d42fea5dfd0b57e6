package initd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Linux is the real System.
type Linux struct{}

// Mount implements System.
func (Linux) Mount(source, target, fstype string, flags uintptr, data string) error {
	err := unix.Mount(source, target, fstype, flags, data)
	if errors.Is(err, unix.EBUSY) && mountedAs(target, fstype) {
		return nil // the kernel mounted it already (devtmpfs.mount=1)
	}
	return err
}

// mountedAs reports whether /proc/self/mounts lists target as a mount of
// type fstype.
func mountedAs(target, fstype string) bool {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 2 && fields[1] == target && fields[2] == fstype {
			return true
		}
	}
	return false
}

// Unmount implements System: it makes target read-only first, so that its
// filesystem is clean even if something still holds it and it has to be
// detached.
func (Linux) Unmount(target string) error {
	_ = unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
	err := unix.Unmount(target, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(target, unix.MNT_DETACH)
	}
	return err
}

// Sethostname implements System.
func (Linux) Sethostname(name string) error { return unix.Sethostname([]byte(name)) }

// LinkUp implements System.
func (Linux) LinkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

// LoadModule implements System with finit_module(2): no shell, no modprobe.
func (Linux) LoadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// Sync implements System.
func (Linux) Sync() { unix.Sync() }

// Halt implements System.
func (Linux) Halt(a Action) error {
	cmd := unix.LINUX_REBOOT_CMD_RESTART
	if a == PowerOff {
		cmd = unix.LINUX_REBOOT_CMD_POWER_OFF
	}
	return unix.Reboot(cmd)
}

// Reaper is the real Processes for PID 1: it starts children and reaps
// every child of the process, its own and the orphans the kernel hands to
// init, so that none stays a zombie.
type Reaper struct {
	log     *slog.Logger
	env     []string
	mu      sync.Mutex
	waiting map[int]*child
}

// NewReaper starts reaping until ctx ends. Children get env added to the
// init's environment.
func NewReaper(ctx context.Context, log *slog.Logger, env ...string) *Reaper {
	r := &Reaper{log: log, env: append(os.Environ(), env...), waiting: map[int]*child{}}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGCHLD)
	go func() {
		defer signal.Stop(sig)
		// A periodic sweep too: SIGCHLDs coalesce, and a lost one must not
		// leave a zombie behind.
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
			case <-t.C:
			}
			r.reap()
		}
	}()
	return r
}

func (r *Reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		if c, ok := r.waiting[pid]; ok {
			delete(r.waiting, pid)
			c.status = syscall.WaitStatus(ws)
			close(c.done)
		} else {
			r.log.Debug("reaped an orphan", "pid", pid)
		}
	}
}

// Start implements Processes. The child keeps init's standard streams (the
// console) and gets a process group of its own.
func (r *Reaper) Start(argv []string) (Child, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command")
	}
	// Held across the fork: the child cannot be reaped before it is known.
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{
		Env:   r.env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	c := &child{r: r, pid: p.Pid, done: make(chan struct{})}
	r.waiting[c.pid] = c
	return c, nil
}

type child struct {
	r      *Reaper
	pid    int
	done   chan struct{}
	status syscall.WaitStatus
}

func (c *child) PID() int                   { return c.pid }
func (c *child) Done() <-chan struct{}      { return c.done }
func (c *child) Status() syscall.WaitStatus { return c.status }
func (c *child) Signal(s syscall.Signal) error {
	c.r.mu.Lock() // not reaped meanwhile: the PID is still the child's
	defer c.r.mu.Unlock()
	select {
	case <-c.done:
		return nil // reaped: the PID may belong to someone else now
	default:
	}
	return unix.Kill(c.pid, s)
}
