package firmware

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/atomicfile"
	"github.com/sipguard/sipguard/image/manifest"
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
	// Trial is the update installed in the slot on trial.
	Trial UpdateID `json:"trial,omitzero"`
	// Failed is the last slot that was tried and never reported healthy:
	// the box went back to Active.
	Failed string `json:"failed,omitempty"`
	// Rejected are the updates that failed their trial, oldest first, at
	// most MaxRejected: an update disk holding one is not installed from
	// again.
	Rejected []UpdateID `json:"rejected,omitempty"`
}

// MaxRejected bounds the updates the boot state remembers as failed.
const MaxRejected = 8

// UpdateID names one signed update: its version, and the digest of its
// signed manifest and the signature. A rebuilt or re-signed update of the
// same version is another update.
type UpdateID struct {
	Version string `json:"version"`
	Digest  string `json:"digest"` // SHA-256, hex
}

// IDOf names the update a signed manifest describes.
func IDOf(s manifest.Signed) UpdateID {
	h := sha256.New()
	for _, part := range [][]byte{s.Raw, s.Sig} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(part))))
		h.Write(part)
	}
	return UpdateID{Version: s.Manifest.Version, Digest: hex.EncodeToString(h.Sum(nil))}
}

// Equal reports whether two boot states say the same.
func (s BootState) Equal(o BootState) bool {
	return s.Active == o.Active && s.Try == o.Try && s.Tries == o.Tries && s.Trial == o.Trial && s.Failed == o.Failed &&
		slices.Equal(s.Rejected, o.Rejected)
}

// Rejects reports whether id is an update that failed its trial here.
func (s BootState) Rejects(id UpdateID) bool { return slices.Contains(s.Rejected, id) }

// FailTrial goes back to the active slot: the slot on trial never
// reported healthy, or cannot start. Its update, when known, is
// remembered as rejected.
func (s BootState) FailTrial() BootState {
	next := BootState{Active: s.Active, Failed: s.Try, Rejected: slices.Clone(s.Rejected)}
	if s.Trial != (UpdateID{}) && !next.Rejects(s.Trial) {
		next.Rejected = append(next.Rejected, s.Trial)
		if n := len(next.Rejected); n > MaxRejected {
			next.Rejected = next.Rejected[n-MaxRejected:]
		}
	}
	return next
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
		return s.Active, s.FailTrial()
	}
	return s.Active, s
}

// Schedule puts slot, holding the update id, on trial for the next start.
func (s BootState) Schedule(slot string, id UpdateID) BootState {
	return BootState{Active: s.Active, Try: slot, Tries: 1, Trial: id, Rejected: slices.Clone(s.Rejected)}
}

// Commit makes running the active slot when it was on trial: the new
// firmware reported healthy (an update rejected before and installed again
// by hand is no longer rejected). It reports whether anything changed.
func (s BootState) Commit(running string) (BootState, bool) {
	if s.Try == "" || s.Try != running {
		return s, false
	}
	rejected := slices.DeleteFunc(slices.Clone(s.Rejected), func(id UpdateID) bool { return id == s.Trial })
	if len(rejected) == 0 {
		rejected = nil
	}
	return BootState{Active: running, Rejected: rejected}, true
}

// InstallAndSchedule installs a bundle into slot (see Install) and puts it
// on trial for the next start in the boot state at statePath. A damaged
// boot state is replaced; what it said is returned in warn.
func InstallAndSchedule(bundle io.Reader, slot Slot, board, current string, keys []ed25519.PublicKey, statePath string) (m manifest.Manifest, warn, err error) {
	signed, err := install(bundle, slot, board, current, keys)
	if err != nil {
		return signed.Manifest, nil, err
	}
	state, warn := LoadState(statePath)
	if err := SaveState(statePath, state.Schedule(slot.Name, IDOf(signed))); err != nil {
		return signed.Manifest, warn, fmt.Errorf("installed in slot %s but not scheduled: %w", slot.Name, err)
	}
	return signed.Manifest, warn, nil
}

// Why an update disk's bundle is left alone.
var (
	// ErrRunning: the bundle is the firmware that runs.
	ErrRunning = errors.New("this firmware already runs")
	// ErrRejected: the bundle is an update that failed its trial on this
	// box; a newer or re-signed one is installed.
	ErrRejected = errors.New("this update failed its trial on this box (it never reported healthy): not installed again")
)

// InstallFromDisk installs the update bundle in the file at path (an
// update disk's device, written raw) into slot and puts it on trial, as
// InstallAndSchedule does; unless it is the running version (ErrRunning)
// or an update the boot state at statePath remembers as rejected
// (ErrRejected). Each start of a box with the disk plugged in calls it:
// one bad update must not be installed again and again.
func InstallFromDisk(path string, slot Slot, board, current string, keys []ed25519.PublicKey, statePath string) (m manifest.Manifest, warn, err error) {
	f, err := os.Open(path)
	if err != nil {
		return m, nil, fmt.Errorf("update disk: %w", err)
	}
	b, err := manifest.OpenBundle(f, keys)
	f.Close()
	if err != nil {
		return m, nil, err
	}
	m = b.Manifest
	if m.Version == current {
		return m, nil, fmt.Errorf("%s: %w", m.Version, ErrRunning)
	}
	state, warn := LoadState(statePath)
	if id := IDOf(b.Signed); state.Rejects(id) {
		return m, warn, fmt.Errorf("%s (manifest %.12s): %w", m.Version, id.Digest, ErrRejected)
	}
	if f, err = os.Open(path); err != nil {
		return m, warn, fmt.Errorf("update disk: %w", err)
	}
	defer f.Close()
	m, warn2, err := InstallAndSchedule(f, slot, board, current, keys, statePath)
	return m, errors.Join(warn, warn2), err
}
