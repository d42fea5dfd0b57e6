// Package initd is what sipguard does when the kernel starts it as PID 1.
// It brings the system up (pseudo filesystems, kernel modules, hostname,
// loopback, the data partition), starts the protection service as a
// supervised child process, reaps orphans, feeds the hardware watchdog while
// the service is healthy, and reboots or powers off cleanly on request.
//
// Everything that touches the machine goes through System and Processes,
// so the whole sequence runs in unit tests against fakes; the real
// implementations are Linux system calls.
package initd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sipguard/sipguard/board"
)

// Action is what the box does when init ends.
type Action int

// The ways init ends.
const (
	Reboot Action = iota
	PowerOff
)

func (a Action) String() string {
	if a == PowerOff {
		return "poweroff"
	}
	return "reboot"
}

// System is the part of the machine that bring-up and shutdown change.
type System interface {
	// Mount mounts like mount(2); mounting over an existing mount of the
	// same filesystem is not an error.
	Mount(source, target, fstype string, flags uintptr, data string) error
	// Unmount unmounts target, detaching it if it is busy.
	Unmount(target string) error
	Sethostname(name string) error
	// LinkUp sets a network interface up.
	LinkUp(name string) error
	// LoadModule loads the kernel module in the file at path; a module
	// already loaded is not an error.
	LoadModule(path string) error
	Sync()
	// Halt reboots or powers off the machine. It returns only on error.
	Halt(Action) error
}

// Watchdog is the hardware watchdog: it resets the machine unless fed.
type Watchdog interface {
	Feed() error
	// Close stops the watchdog (the magic close) where the driver allows.
	Close() error
}

// Mount is one filesystem mounted at boot.
type Mount struct {
	Source, Target, Type string
	Flags                uintptr
	Data                 string
}

// Config is what init does. Defaults fills it for the box.
type Config struct {
	Hostname string
	Mounts   []Mount
	// ModuleDir is /lib/modules/<release>; Modules are the modules the
	// box needs, by name or alias, loaded with their dependencies when the
	// kernel has them as modules rather than built in.
	ModuleDir string
	Modules   []string
	Data      DataConfig
	// Service is the command line of the supervised service, without the
	// state and configuration paths that init adds from the data partition.
	Service []string
	Restart Backoff
	// StopGrace is how long the service has to stop on shutdown before it
	// is killed.
	StopGrace time.Duration
	// WatchdogInterval is how often the watchdog is fed while the service is
	// healthy (well under the watchdog's timeout); Health is asked each time.
	WatchdogInterval time.Duration
}

// The kernel's mount flags init uses (from <linux/mount.h>; the same on
// every architecture).
const (
	MountNoSuid  = 0x2
	MountNoDev   = 0x4
	MountNoExec  = 0x8
	MountNoAtime = 0x400
)

// Defaults returns the box's init configuration for the running binary.
func Defaults(self, release string) Config {
	const nse = MountNoSuid | MountNoExec
	return Config{
		Hostname: "sipguard",
		Mounts: []Mount{
			{"proc", "/proc", "proc", nse | MountNoDev, ""},
			{"sysfs", "/sys", "sysfs", nse | MountNoDev, ""},
			{"devtmpfs", "/dev", "devtmpfs", MountNoSuid, "mode=0755"},
			{"tmpfs", "/run", "tmpfs", nse | MountNoDev, "mode=0755,size=16m"},
			{"tmpfs", "/tmp", "tmpfs", nse | MountNoDev, "mode=1777,size=16m"},
		},
		ModuleDir:        filepath.Join("/lib/modules", release),
		Modules:          board.KernelModules(),
		Data:             DataConfig{Device: "", Target: "/data", Label: "sipguard-data"},
		Service:          []string{self, "daemon"},
		Restart:          Backoff{Min: 200 * time.Millisecond, Max: 10 * time.Second, Stable: time.Minute},
		StopGrace:        10 * time.Second,
		WatchdogInterval: 5 * time.Second,
	}
}

// Init is the running init.
type Init struct {
	Config
	Sys   System
	Procs Processes
	// Modules lists the kernel's modules; a nil index means there is no
	// modules directory (the kernel has everything built in, or an earlier
	// stage loaded it all).
	Modules func(dir string) (*board.ModuleIndex, error)
	// Watchdog, if not nil, opens the hardware watchdog.
	Watchdog func() (Watchdog, error)
	// Health reports whether the running service works (its local API
	// answers).
	Health func(context.Context) error
	// AfterData runs once the data partition is up, before the service
	// starts; if it reports true, init reboots at once (an update was
	// installed from a disk).
	AfterData func(ctx context.Context, dataDir string) bool
	// OnHealthy is called once, the first time the service answers its
	// health check, with the data folder ("" without one): a firmware on
	// trial is then committed.
	OnHealthy func(dataDir string)
	// PrepareData mounts the data partition (creating and growing it on
	// first boot) and returns its mount point.
	PrepareData func(context.Context, DataConfig) (string, error)
	Log         *slog.Logger

	early bool // Early has run
}

// BringUp does the boot steps before the service starts. It never stops at
// a failed step: a box that protects without its data partition is better
// than a box that does not boot, so failures are logged and returned
// together, and the service starts anyway.
func (in *Init) BringUp(ctx context.Context) (dataDir string, err error) {
	var errs []error
	if !in.early {
		errs = append(errs, in.Early())
	}
	if err := in.Sys.Sethostname(in.Hostname); err != nil {
		errs = append(errs, fmt.Errorf("hostname: %w", err))
	}
	if err := in.Sys.LinkUp("lo"); err != nil {
		errs = append(errs, fmt.Errorf("loopback: %w", err))
	}
	if in.PrepareData != nil {
		dir, err := in.PrepareData(ctx, in.Data)
		if err != nil {
			errs = append(errs, fmt.Errorf("data partition: %w", err))
		} else {
			dataDir = dir
		}
	}
	err = errors.Join(errs...)
	if err != nil {
		in.Log.Error("boot", "err", err)
	}
	return dataDir, err
}

// Early mounts the pseudo filesystems and loads the kernel modules: what
// the initramfs does before it can mount a root slot.
func (in *Init) Early() error {
	in.early = true
	var errs []error
	for _, m := range in.Mounts {
		if err := in.Sys.Mount(m.Source, m.Target, m.Type, m.Flags, m.Data); err != nil {
			errs = append(errs, fmt.Errorf("mount %s: %w", m.Target, err))
		}
	}
	if err := in.loadModules(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (in *Init) loadModules() error {
	if in.Modules == nil || len(in.Config.Modules) == 0 {
		return nil
	}
	idx, err := in.Modules(in.ModuleDir)
	if err != nil {
		return err
	}
	if idx == nil {
		in.Log.Info("no kernel modules to load", "dir", in.ModuleDir)
		return nil
	}
	order, missing, err := idx.Order(in.Config.Modules)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		in.Log.Info("modules neither built in nor present, assumed not needed on this board", "modules", missing)
	}
	var errs []error
	for _, m := range order {
		if err := in.Sys.LoadModule(filepath.Join(in.ModuleDir, m.Path)); err != nil {
			errs = append(errs, fmt.Errorf("module %s: %w", m.Name, err))
		}
	}
	in.Log.Info("modules loaded", "count", len(order)-len(errs))
	return errors.Join(errs...)
}

// ServiceArgs is the service's command line for a data directory ("" when
// the data partition is not there: then nothing is kept across reboots).
// The configuration file lives there too: ensureConfig creates it with the
// defaults on first boot, so that it can be edited (sipguard config set).
func (in *Init) ServiceArgs(dataDir string, ensureConfig func(string) error) []string {
	args := append([]string(nil), in.Service...)
	if dataDir == "" {
		return args
	}
	args = append(args, "--state", filepath.Join(dataDir, "state.db"))
	conf := filepath.Join(dataDir, "sipguard.toml")
	if err := ensureConfig(conf); err != nil {
		in.Log.Error("configuration file: running on the defaults", "err", err)
		return args
	}
	return append(args, "--config", conf)
}

// Run brings the system up, then supervises the service until ctx ends or
// a reboot or poweroff is asked for on requests; then it stops the
// service, syncs and unmounts the data partition, and returns the action to
// take (the caller halts the machine with it).
func (in *Init) Run(ctx context.Context, requests <-chan Action, ensureConfig func(string) error) Action {
	dataDir, _ := in.BringUp(ctx)
	if in.AfterData != nil && in.AfterData(ctx, dataDir) {
		in.Sys.Sync()
		if dataDir != "" {
			_ = in.Sys.Unmount(dataDir)
		}
		return Reboot
	}
	var wd Watchdog
	if in.Watchdog != nil {
		w, err := in.Watchdog()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			in.Log.Info("no hardware watchdog")
		case err != nil:
			in.Log.Error("watchdog", "err", err)
		default:
			wd = w
		}
	}
	sup := &Supervisor{Argv: in.ServiceArgs(dataDir, ensureConfig), Procs: in.Procs, Backoff: in.Restart, Grace: in.StopGrace, Log: in.Log}
	supCtx, stopSup := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sup.Run(supCtx)
	}()

	action := Reboot
	interval := in.WatchdogInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	reported := false
	feed := func() {
		if !sup.Running() {
			return
		}
		if in.Health != nil {
			hctx, cancel := context.WithTimeout(ctx, interval)
			err := in.Health(hctx)
			cancel()
			if err != nil {
				if !sup.Starting(time.Now()) {
					in.Log.Warn("service unhealthy: watchdog not fed", "err", err)
					return
				}
			} else if !reported && in.OnHealthy != nil {
				reported = true
				in.OnHealthy(dataDir)
			}
		}
		if wd == nil {
			return
		}
		if err := wd.Feed(); err != nil {
			in.Log.Error("watchdog", "err", err)
		}
	}
	feed()
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case a := <-requests:
			action = a
			break wait
		case <-tick.C:
			feed()
		}
	}
	in.Log.Info("shutting down", "then", action)
	stopSup()
	<-done
	in.Sys.Sync()
	if dataDir != "" {
		if err := in.Sys.Unmount(dataDir); err != nil {
			in.Log.Error("unmount data partition", "err", err)
		}
	}
	in.Sys.Sync()
	if wd != nil && action == PowerOff {
		// Halted, the box must stay off: a watchdog left running would
		// restart it. On reboot it stays armed in case the reboot hangs.
		if err := wd.Close(); err != nil {
			in.Log.Error("watchdog", "err", err)
		}
	}
	return action
}

// CmdlineValue returns the value of key=value on the kernel command line
// ("" if absent; the last one wins, as in the kernel).
func CmdlineValue(cmdline, key string) string {
	v := ""
	for _, f := range strings.Fields(cmdline) {
		if k, val, ok := strings.Cut(f, "="); ok && k == key {
			v = val
		}
	}
	return v
}

var partNumber = regexp.MustCompile(`^(PARTUUID=[0-9a-fA-F]{8}-|/dev/.*?p?)(\d+)$`)

// Sibling is the partition numbered n on the same disk as spec:
// PARTUUID=5195a7d0-02 → PARTUUID=5195a7d0-03, /dev/vda2 → /dev/vda3.
func Sibling(spec string, n int) (string, error) {
	m := partNumber.FindStringSubmatch(spec)
	if m == nil {
		return "", fmt.Errorf("%q: want PARTUUID=xxxxxxxx-NN or a partition's device", spec)
	}
	if len(m[2]) == 2 { // PARTUUID numbers have two digits
		return fmt.Sprintf("%s%02d", m[1], n), nil
	}
	return m[1] + strconv.Itoa(n), nil
}
