package initd

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/board"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/firmware"
	"github.com/sipguard/sipguard/image/manifest"
)

// startSlot picks the root slot to start from the boot state on the data
// partition (a slot on trial after an update gets one start; slot A on a
// fresh card), records the start, and returns the slot's device and the
// environment that tells the firmware where it runs from. rootA is the
// kernel command line's sipguard.root: slot A, partition 2.
func startSlot(ctx context.Context, rootA, data string, log *slog.Logger) (dev string, env []string, err error) {
	spec := map[string]string{"a": rootA}
	if spec["b"], err = Sibling(rootA, 3); err != nil {
		return "", nil, err
	}
	bootSpec, err := Sibling(rootA, 1)
	if err != nil {
		return "", nil, err
	}
	state := firmware.BootState{Active: "a"}
	statePath := ""
	if data != "" {
		if dataDev, err := ResolveDevice(ctx, data, 10*time.Second); err == nil && hasExt4(dataDev) {
			if err := unix.Mount(dataDev, "/data", "ext4", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err == nil {
				defer unix.Unmount("/data", 0)
				statePath = filepath.Join("/data", firmware.BootStateFile)
				if state, err = firmware.LoadState(statePath); err != nil {
					log.Error("boot state", "err", err)
				}
			}
		}
	}
	recovery := buttonHeld(log)
	slot, next := state.Choose(recovery)
	if recovery {
		log.Warn("recovery: the button is held: starting the previous firmware once", "slot", slot)
	}
	dev, err = ResolveDevice(ctx, spec[slot], 10*time.Second)
	if err == nil && slot != state.Active {
		// A slot on trial must at least carry its signed manifest.
		if keys, _ := manifest.Trusted(); len(keys) > 0 {
			if _, verr := firmware.ReadManifest(dev, keys); verr != nil {
				log.Error("the slot on trial is not usable: starting the active one", "slot", slot, "err", verr)
				slot, next = state.Active, state.FailTrial()
				dev, err = ResolveDevice(ctx, spec[slot], 10*time.Second)
			}
		}
	}
	if err != nil {
		return "", nil, err
	}
	if statePath != "" && !next.Equal(state) {
		if err := firmware.SaveState(statePath, next); err != nil {
			log.Error("boot state not saved", "err", err)
		}
	}
	if next.Failed != "" && next.Failed != state.Failed {
		log.Error("the updated firmware never reported healthy: back to the previous one; an update disk holding it is not installed from again",
			"failed", next.Failed, "slot", slot, "version", state.Trial.Version, "manifest", state.Trial.Digest)
	}
	env = []string{firmware.EnvSlot + "=" + slot, firmware.EnvSlotDev + "=" + dev}
	if other, err := ResolveDevice(ctx, spec[firmware.Other(slot)], time.Second); err == nil {
		env = append(env, firmware.EnvOtherDev+"="+other)
	}
	if boot, err := ResolveDevice(ctx, bootSpec, time.Second); err == nil {
		env = append(env, firmware.EnvBootDev+"="+boot)
	}
	log.Info("starting the root slot", "slot", slot, "device", dev, "trial", slot != state.Active)
	return dev, env, nil
}

func hasExt4(dev string) bool {
	f, err := os.Open(dev)
	if err != nil {
		return false
	}
	defer f.Close()
	ok, _ := HasExt4(f, 0)
	return ok
}

// commitSlot makes the running slot the active one if it was on trial:
// the new firmware has reported healthy.
func commitSlot(dataDir string, log *slog.Logger) {
	slot := os.Getenv(firmware.EnvSlot)
	if slot == "" || dataDir == "" {
		return
	}
	path := filepath.Join(dataDir, firmware.BootStateFile)
	state, err := firmware.LoadState(path)
	if err != nil {
		log.Error("boot state", "err", err)
		return
	}
	if next, changed := state.Commit(slot); changed {
		if err := firmware.SaveState(path, next); err != nil {
			log.Error("the updated firmware is healthy but could not be committed", "err", err)
			return
		}
		log.Info("the updated firmware is healthy: committed", "slot", slot)
	}
}

// updateFromDevice installs the update bundle written raw on a disk (a USB
// stick: dd if=sipguard-rpi4-v1.3.0.bundle of=/dev/sdX), named on the
// kernel command line as sipguard.update=, into the other root slot and puts
// it on trial. It reports whether it installed one (init then reboots into
// it). A bundle for the running version, an update that failed its trial on
// this box before, or a disk without a bundle, is left alone.
func updateFromDevice(ctx context.Context, spec, dataDir string, log *slog.Logger) bool {
	slot, otherDev := os.Getenv(firmware.EnvSlot), os.Getenv(firmware.EnvOtherDev)
	if spec == "" || dataDir == "" || slot == "" || otherDev == "" {
		return false
	}
	dev, err := ResolveDevice(ctx, spec, 5*time.Second)
	if err != nil {
		log.Info("no update disk", "device", spec)
		return false
	}
	version, board, err := firmware.Release(firmware.ReleaseFile)
	if err != nil {
		log.Error("update: running firmware unknown", "err", err)
		return false
	}
	keys, _ := manifest.Trusted()
	other := firmware.Slot{Name: firmware.Other(slot), Device: otherDev}
	m, warn, err := firmware.InstallFromDisk(dev, other, board, version, keys, filepath.Join(dataDir, firmware.BootStateFile))
	if warn != nil {
		log.Error("boot state", "err", warn)
	}
	switch {
	case errors.Is(err, firmware.ErrRunning):
		log.Info("update disk: this firmware already runs", "version", version)
		return false
	case errors.Is(err, firmware.ErrRejected):
		log.Warn("update disk: skipped: this update failed its trial on this box; write a newer or re-signed one to install", "device", dev, "err", err)
		return false
	case err != nil:
		log.Error("update disk: refused", "device", dev, "err", err)
		return false
	}
	log.Info("update installed: rebooting into it for one try", "version", m.Version, "slot", other.Name)
	return true
}

// buttonHeld reports whether the front button is held at power-on: the
// recovery gesture. Boards without a button never are.
func buttonHeld(log *slog.Logger) bool {
	p, err := board.Detect(os.DirFS("/"), "")
	if err != nil || p.Button == "" {
		return false
	}
	b, err := board.Open(p, board.Options{LEDs: board.WiringNone, Log: log})
	if err != nil {
		return false
	}
	defer b.Close()
	btn := b.Button()
	if btn == nil {
		return false
	}
	held, err := btn.Held()
	if err != nil {
		log.Warn("recovery button unreadable", "err", err)
	}
	return held
}
