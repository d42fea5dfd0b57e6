package daemon

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/firmware"
	"github.com/sipguard/sipguard/image/manifest"
)

const (
	tamperAckFile = "tamper-ack.json" // in the data folder
	tamperRecheck = 24 * time.Hour
)

// Firmware is the running firmware as the daemon sees it.
type Firmware struct {
	Slot, SlotDev, OtherDev, BootDev string // empty when not started from a root slot
	Release                          string // the release file
	DataDir                          string // where the boot state and the tamper acknowledgement live
	Keys                             []ed25519.PublicKey
}

// FirmwareFromEnv describes the firmware the box's init started.
func FirmwareFromEnv(dataDir string) Firmware {
	keys, _ := manifest.Trusted()
	return Firmware{Slot: os.Getenv(firmware.EnvSlot), SlotDev: os.Getenv(firmware.EnvSlotDev), OtherDev: os.Getenv(firmware.EnvOtherDev),
		BootDev: os.Getenv(firmware.EnvBootDev), Release: firmware.ReleaseFile, DataDir: dataDir, Keys: keys}
}

// firmwareWatch runs the tamper check at start and daily, and installs
// updates.
type firmwareWatch struct {
	fw      Firmware
	log     *slog.Logger
	fault   func(bool) // the tamper LED
	mu      sync.Mutex
	status  api.Firmware
	install sync.Mutex // one update at a time
}

func newFirmwareWatch(fw Firmware, log *slog.Logger, fault func(bool)) *firmwareWatch {
	w := &firmwareWatch{fw: fw, log: log, fault: fault}
	w.status.Slot = fw.Slot
	if v, b, err := firmware.Release(fw.Release); err == nil {
		w.status.Version, w.status.Board = v, b
	}
	if fw.DataDir != "" {
		// The boot state changes at boot only (a trial that failed), and
		// by this daemon's own installs, which keep what it rejects.
		if s, err := firmware.LoadState(filepath.Join(fw.DataDir, firmware.BootStateFile)); err == nil {
			for _, id := range s.Rejected {
				w.status.Rejected = append(w.status.Rejected, api.RejectedUpdate{Version: id.Version, Digest: id.Digest})
			}
		}
	}
	return w
}

// run checks now and then daily, until ctx ends.
func (w *firmwareWatch) run(ctx context.Context) error {
	if w.fw.SlotDev == "" || w.fw.BootDev == "" {
		w.set(func(s *api.Firmware) { s.Error = "not started from a root slot: nothing to check" })
		return nil
	}
	if len(w.fw.Keys) == 0 {
		w.set(func(s *api.Firmware) { s.Error = "this build trusts no signing key: nothing to check" })
		return nil
	}
	for {
		w.check()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(tamperRecheck):
		}
	}
}

func (w *firmwareWatch) check() {
	m, findings, err := firmware.Check(w.fw.SlotDev, w.fw.BootDev, w.fw.Keys)
	var tamper []string
	for _, f := range findings {
		tamper = append(tamper, f.String())
	}
	acked := len(tamper) > 0 && w.acknowledged(tamper)
	w.set(func(s *api.Firmware) {
		s.Checked, s.Tamper, s.Acknowledged, s.Error = time.Now(), tamper, acked, ""
		if err != nil {
			s.Error = err.Error()
		} else if m.Version != "" {
			s.Signed = m.Version
		}
	})
	switch {
	case err != nil:
		w.log.Error("firmware check failed", "err", err)
	case len(tamper) > 0:
		w.log.Error("TAMPER WARNING: the firmware differs from what was signed", "findings", tamper, "acknowledged", acked)
	default:
		w.log.Info("firmware checked: as signed", "version", m.Version, "slot", w.fw.Slot)
	}
	w.fault(len(tamper) > 0 && !acked)
}

func (w *firmwareWatch) set(f func(*api.Firmware)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.status)
}

func (w *firmwareWatch) get() api.Firmware {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.status
	s.Tamper = append([]string(nil), s.Tamper...)
	s.Rejected = append([]api.RejectedUpdate(nil), s.Rejected...)
	return s
}

// acknowledged reports whether these exact findings were acknowledged.
func (w *firmwareWatch) acknowledged(tamper []string) bool {
	if w.fw.DataDir == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(w.fw.DataDir, tamperAckFile))
	if err != nil {
		return false
	}
	var acked []string
	return json.Unmarshal(b, &acked) == nil && fmt.Sprint(acked) == fmt.Sprint(tamper)
}

// acknowledge clears the tamper warning for the findings shown now; new
// or different findings raise it again.
func (w *firmwareWatch) acknowledge() error {
	st := w.get()
	if len(st.Tamper) == 0 {
		return fmt.Errorf("%w: no tamper warning to acknowledge", api.ErrBadRequest)
	}
	if w.fw.DataDir == "" {
		return errors.New("no data folder to keep the acknowledgement in")
	}
	b, _ := json.Marshal(st.Tamper)
	if err := os.WriteFile(filepath.Join(w.fw.DataDir, tamperAckFile), b, 0o600); err != nil {
		return err
	}
	w.set(func(s *api.Firmware) { s.Acknowledged = true })
	w.fault(false)
	w.log.Warn("tamper warning acknowledged", "findings", st.Tamper)
	return nil
}

// update installs a bundle into the other slot and puts it on trial for
// the next start.
func (w *firmwareWatch) update(r io.Reader) (api.Update, error) {
	if !w.install.TryLock() {
		return api.Update{}, fmt.Errorf("%w: an update is already being installed", api.ErrBadRequest)
	}
	defer w.install.Unlock()
	st := w.get()
	if w.fw.OtherDev == "" || w.fw.DataDir == "" {
		return api.Update{}, fmt.Errorf("%w: not started from a root slot with a data partition: nowhere to install", api.ErrBadRequest)
	}
	other := firmware.Slot{Name: firmware.Other(w.fw.Slot), Device: w.fw.OtherDev}
	w.log.Info("installing an update", "slot", other.Name)
	m, warn, err := firmware.InstallAndSchedule(r, other, st.Board, st.Version, w.fw.Keys, filepath.Join(w.fw.DataDir, firmware.BootStateFile))
	if warn != nil {
		w.log.Warn("boot state", "err", warn)
	}
	if err != nil {
		w.log.Error("update refused", "err", err)
		return api.Update{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	w.log.Info("update installed: it starts at the next boot, for one try", "version", m.Version, "slot", other.Name)
	return api.Update{Version: m.Version, Slot: other.Name}, nil
}
