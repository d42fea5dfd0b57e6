package firmware

import (
	"crypto/ed25519"
	"io"

	"encoding/json"
	"errors"
	"fmt"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/atomicfile"
	"github.com/sipguard/sipguard/image/manifest"
	"io/fs"
	"os"
)

// How the box's init tells the firmware which root slot runs: environment
// variables it sets for the service (the partitions are resolved at boot),
// the running slot's release file, and the boot state's file.
const (
	EnvSlot       = "SIPGUARD_SLOT"      // "a" or "b"
	EnvSlotDev    = "SIPGUARD_SLOT_DEV"  // the running slot's partition
	EnvOtherDev   = "SIPGUARD_OTHER_DEV" // the other slot's partition
	EnvBootDev    = "SIPGUARD_BOOT_DEV"  // the boot partition
	ReleaseFile   = "/etc/sipguard/release"
	BootStateFile = "boot.json" // in the data folder
)

// BootState says which root slot starts: the active one, or, for one
// start, a slot on trial after an update. It lives on the data partition.
type BootState struct {
	Active string `json:"active"`          // "a" or "b"
	Try    string `json:"try,omitempty"`   // the slot on trial, if any
	Tries  int    `json:"tries,omitempty"` // starts of it left
	// Failed is the last slot that was tried and never reported healthy:
	// the box went back to Active.
	Failed string `json:"failed,omitempty"`
}

// SlotNames are the root slots.
var SlotNames = []string{"a", "b"}

// Other is the slot that is not s.
func Other(s string) string {
	if s == "b" {
		return "a"
	}
	return "b"
}

// LoadState reads the boot state; none yet (first boot) is slot A.
func LoadState(path string) (BootState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return BootState{Active: "a"}, nil
	}
	if err != nil {
		return BootState{Active: "a"}, err
	}
	var s BootState
	if err := json.Unmarshal(b, &s); err != nil || (s.Active != "a" && s.Active != "b") || (s.Try != "" && s.Try != "a" && s.Try != "b") {
		return BootState{Active: "a"}, fmt.Errorf("boot state %s is damaged (%q): starting slot a", path, b)
	}
	return s, nil
}

// SaveState writes the boot state atomically and durably.
func SaveState(path string, s BootState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o600)
}

// Choose decides which slot starts, and the state to save before starting
// it. A slot on trial gets its starts; when none is left and it never
// reported healthy, the box goes back to the active slot. recovery (the
// button held at power-on) starts the other slot once, changing nothing.
func (s BootState) Choose(recovery bool) (slot string, next BootState) {
	switch {
	case recovery:
		return Other(s.Active), s
	case s.Try != "" && s.Tries > 0:
		next = s
		next.Tries--
		return s.Try, next
	case s.Try != "":
		return s.Active, BootState{Active: s.Active, Failed: s.Try}
	}
	return s.Active, s
}

// Schedule puts slot on trial for the next start.
func (s BootState) Schedule(slot string) BootState {
	return BootState{Active: s.Active, Try: slot, Tries: 1}
}

// Commit makes running the active slot when it was on trial: the new
// firmware reported healthy. It reports whether anything changed.
func (s BootState) Commit(running string) (BootState, bool) {
	if s.Try == "" || s.Try != running {
		return s, false
	}
	return BootState{Active: running}, true
}

// InstallAndSchedule installs a bundle into slot (see Install) and puts it
// on trial for the next start in the boot state at statePath. A damaged
// boot state is replaced; what it said is returned in warn.
func InstallAndSchedule(bundle io.Reader, slot Slot, board, current string, keys []ed25519.PublicKey, statePath string) (m manifest.Manifest, warn, err error) {
	if m, err = Install(bundle, slot, board, current, keys); err != nil {
		return m, nil, err
	}
	state, warn := LoadState(statePath)
	if err := SaveState(statePath, state.Schedule(slot.Name)); err != nil {
		return m, warn, fmt.Errorf("installed in slot %s but not scheduled: %w", slot.Name, err)
	}
	return m, warn, nil
}
