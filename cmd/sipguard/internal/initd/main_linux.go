package initd

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/board"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
)

// Signals init understands, as busybox's init does: SIGTERM and SIGINT
// (Ctrl-Alt-Del) reboot, SIGUSR2 and SIGPWR power off.
var (
	RebootSignals   = []os.Signal{rebootSignal, syscall.SIGINT}
	PowerOffSignals = []os.Signal{powerOffSignal, syscall.SIGPWR}
)

// Main is PID 1: it brings the box up, supervises the service and, when
// asked, reboots or powers off. It never returns.
//
// Started from the initramfs with sipguard.root= on the kernel command
// line, it first loads the modules, mounts that root slot and executes the
// slot's own init, which then does the rest.
func Main(self string) {
	attachConsole()
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo})).With("from", "init")
	// Ctrl-Alt-Del sends SIGINT to init instead of rebooting at once.
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	requests := handleSignals()

	ctx := context.Background()
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	cfg := Defaults(self, unix.ByteSliceToString(uts.Release[:]))
	sys := Linux{}
	in := &Init{
		Config: cfg,
		Sys:    sys,
		Modules: func(dir string) (*board.ModuleIndex, error) {
			if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			return board.ReadModuleIndex(os.DirFS(dir))
		},
		Watchdog: func() (Watchdog, error) {
			return board.OpenWatchdog(board.DefaultWatchdog, 15*time.Second)
		},
		Health: func(ctx context.Context) error {
			_, err := api.Client{Socket: api.DefaultSocket}.Status(ctx)
			return err
		},
		Log: log,
	}
	if err := in.Early(); err != nil {
		log.Error("boot", "err", err)
	}
	b, _ := os.ReadFile("/proc/cmdline")
	cmdline := string(b)
	if root := CmdlineValue(cmdline, "sipguard.root"); root != "" && InInitramfs() {
		dev, env, err := startSlot(ctx, root, CmdlineValue(cmdline, "sipguard.data"), log)
		if err == nil {
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				os.Setenv(k, v)
			}
			err = SwitchRoot(dev, []string{"/dev", "/proc", "/sys", "/run", "/tmp"})
		}
		log.Error("root slot unusable: running from the initramfs", "root", root, "err", err)
	}
	for _, port := range []string{"wan", "lan"} {
		if name := CmdlineValue(cmdline, "sipguard."+port); name != "" {
			in.Service = append(in.Service, "--"+port, name)
		}
	}
	in.Data.Device = CmdlineValue(cmdline, "sipguard.data")
	in.PrepareData = func(ctx context.Context, d DataConfig) (string, error) {
		if d.Device == "" {
			return "", errors.New("none configured (kernel command line sipguard.data=)")
		}
		dev, err := ResolveDevice(ctx, d.Device, 10*time.Second)
		if err != nil {
			return "", err
		}
		d.Device = dev
		return DataPreparer{Sys: sys, Log: log}.Prepare(ctx, d)
	}
	in.OnHealthy = func(dataDir string) { commitSlot(dataDir, log) }
	in.AfterData = func(ctx context.Context, dataDir string) bool {
		return updateFromDevice(ctx, CmdlineValue(cmdline, "sipguard.update"), dataDir, log)
	}
	in.Procs = NewReaper(ctx, log, EnvUnderInit)
	ensureConfig := func(p string) error {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		log.Info("first boot: writing the default configuration", "file", p)
		return config.WriteFile(p, config.Default())
	}
	action := in.Run(ctx, requests, ensureConfig)
	log.Info("halting", "action", action)
	err := sys.Halt(action)
	log.Error("halt failed; waiting for the watchdog or a power cycle", "err", err)
	select {}
}

// handleSignals turns the reboot and power-off signals into requests.
func handleSignals() <-chan Action {
	requests := make(chan Action, 1)
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, append(RebootSignals, PowerOffSignals...)...)
	go func() {
		for s := range sig {
			a := Reboot
			for _, p := range PowerOffSignals {
				if s == p {
					a = PowerOff
				}
			}
			select {
			case requests <- a:
			default:
			}
		}
	}()
	return requests
}
