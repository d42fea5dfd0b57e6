package firmware

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"

	"github.com/sipguard/sipguard/image/manifest"
)

const mib = 1 << 20

type firmwareBuild struct {
	root   []byte
	boot   map[string][]byte
	signed manifest.Signed
}

func build(t *testing.T, key ed25519.PrivateKey, version string, fill byte) firmwareBuild {
	t.Helper()
	fb := firmwareBuild{root: bytes.Repeat([]byte{fill}, 3*mib+123), boot: map[string][]byte{
		"vmlinuz": []byte("kernel " + version), "cmdline.txt": []byte("sipguard.root=PARTUUID=5195a7d0-02\n"),
	}}
	m := manifest.Manifest{Format: manifest.Format, Version: version, Board: "rpi4", Created: time.Unix(1764000000, 0).UTC()}
	m.Root, _ = manifest.HashFile("", bytes.NewReader(fb.root))
	for _, name := range []string{"cmdline.txt", "vmlinuz"} {
		f, _ := manifest.HashFile(name, bytes.NewReader(fb.boot[name]))
		m.Boot = append(m.Boot, f)
	}
	var err error
	if fb.signed, err = manifest.Sign(m, key); err != nil {
		t.Fatal(err)
	}
	return fb
}

func (fb firmwareBuild) bundle(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := manifest.WriteBundle(&b, fb.signed, bytes.NewReader(fb.root), time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// slotFile is an empty 8 MiB root slot partition, as a file.
func slotFile(t *testing.T, name string) Slot {
	t.Helper()
	p := filepath.Join(t.TempDir(), "slot-"+name)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 8*mib); err != nil {
		t.Fatal(err)
	}
	return Slot{Name: name, Device: p}
}

// bootFile is a FAT boot partition, as a file, holding files.
func bootFile(t *testing.T, files map[string][]byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "boot.vfat")
	d, err := diskfs.Create(p, 40*mib, diskfs.SectorSizeDefault)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fsys, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 0, FSType: filesystem.TypeFat32, VolumeLabel: "SIPGUARD"})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		f, err := fsys.OpenFile("/"+name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return p
}

func keys(t *testing.T) (ed25519.PrivateKey, []ed25519.PublicKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv, []ed25519.PublicKey{pub}
}

func TestInstallAndCheck(t *testing.T) {
	priv, trusted := keys(t)
	v2 := build(t, priv, "v1.2.0", 0x5a)
	slot := slotFile(t, "b")
	m, err := Install(bytes.NewReader(v2.bundle(t)), slot, "rpi4", "v1.1.0", trusted)
	if err != nil || m.Version != "v1.2.0" {
		t.Fatalf("Install: %+v %v", m, err)
	}
	boot := bootFile(t, v2.boot)
	got, findings, err := Check(slot.Device, boot, trusted)
	if err != nil || len(findings) != 0 || got.Version != "v1.2.0" {
		t.Fatalf("Check of a fresh install: %v %v %v", got.Version, findings, err)
	}

	// Tampering: one byte of the root image, a boot file changed, a file
	// added; each is found.
	f, _ := os.OpenFile(slot.Device, os.O_RDWR, 0)
	_, _ = f.WriteAt([]byte{0}, 2*mib)
	f.Close()
	altered := map[string][]byte{"vmlinuz": v2.boot["vmlinuz"], "cmdline.txt": []byte("init=/bin/sh\n"), "ssh": nil}
	_, findings, err = Check(slot.Device, bootFile(t, altered), trusted)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"root: altered", "cmdline.txt: altered", "ssh: unexpected file"}
	var gotF []string
	for _, f := range findings {
		gotF = append(gotF, f.String())
	}
	for _, w := range want {
		if !strings.Contains(strings.Join(gotF, "\n"), w) {
			t.Errorf("findings %v lack %q", gotF, w)
		}
	}
	delete(altered, "vmlinuz")
	if _, findings, _ := Check(slot.Device, bootFile(t, altered), trusted); !strings.Contains(findingsText(findings), "vmlinuz: missing") {
		t.Errorf("a missing kernel not found: %v", findings)
	}
	// A slot the publisher never signed.
	if _, findings, _ := Check(slotFile(t, "x").Device, boot, trusted); !strings.Contains(findingsText(findings), "not signed") {
		t.Errorf("an unsigned slot: %v", findings)
	}
}

func findingsText(fs []Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.String())
	}
	return strings.Join(s, "\n")
}

// Every bad bundle is refused; none leaves a slot that could start.
func TestInstallRefusals(t *testing.T) {
	priv, trusted := keys(t)
	stranger, _ := keys(t)
	good := build(t, priv, "v1.2.0", 0x11).bundle(t)
	tampered := bytes.Clone(good)
	tampered[len(tampered)/2] ^= 0xff
	for name, c := range map[string]struct {
		bundle  []byte
		current string
		board   string
		want    string
	}{
		"signed by a stranger": {build(t, stranger, "v1.2.0", 1).bundle(t), "v1.0.0", "rpi4", "signature does not match"},
		"wrong board":          {good, "v1.0.0", "rpi5", "made for another board"},
		"downgrade":            {good, "v1.3.0", "rpi4", "older than the running firmware"},
		"truncated":            {good[:len(good)/3], "v1.0.0", "rpi4", "truncated"},
		"tampered":             {tampered, "v1.0.0", "rpi4", "does not match the manifest"},
		"not a bundle":         {[]byte("PK\x03\x04 this is a zip file" + strings.Repeat(".", 600)), "v1.0.0", "rpi4", "not an update bundle"},
	} {
		slot := slotFile(t, "b")
		_, err := Install(bytes.NewReader(c.bundle), slot, c.board, c.current, trusted)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		if _, err := ReadManifest(slot.Device, trusted); !errors.Is(err, manifest.ErrUnsigned) {
			t.Errorf("%s: the slot could start after a refused bundle: %v", name, err)
		}
	}
	// A slot too small for the image.
	small := slotFile(t, "b")
	_ = os.Truncate(small.Device, 2*mib)
	if _, err := Install(bytes.NewReader(good), small, "rpi4", "v1.0.0", trusted); !errors.Is(err, ErrSlotTooSmall) {
		t.Errorf("small slot: %v", err)
	}
}

func TestBootState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "boot.json")
	s, err := LoadState(path)
	if err != nil || s.Active != "a" {
		t.Fatalf("first boot: %+v %v", s, err)
	}
	// An update to b: one trial start.
	s = s.Schedule("b", UpdateID{Version: "v1.1.0", Digest: "d1"})
	if err := SaveState(path, s); err != nil {
		t.Fatal(err)
	}
	s, _ = LoadState(path)
	slot, next := s.Choose(false)
	if slot != "b" || next.Tries != 0 || next.Try != "b" {
		t.Fatalf("trial start: %s %+v", slot, next)
	}
	// b never reported healthy: the next start goes back to a.
	slot, back := next.Choose(false)
	if slot != "a" || back.Try != "" || back.Failed != "b" || back.Active != "a" || !back.Rejects(UpdateID{Version: "v1.1.0", Digest: "d1"}) {
		t.Errorf("fallback: %s %+v", slot, back)
	}
	// b reports healthy during its trial: committed.
	committed, ok := next.Commit("b")
	if !ok || committed.Active != "b" || committed.Try != "" {
		t.Errorf("commit: %+v %v", committed, ok)
	}
	if _, ok := committed.Commit("b"); ok {
		t.Error("committed twice")
	}
	if slot, _ := committed.Choose(false); slot != "b" {
		t.Errorf("after the commit: %s", slot)
	}
	// Recovery: the other slot, once, nothing saved.
	if slot, same := committed.Choose(true); slot != "a" || !same.Equal(committed) {
		t.Errorf("recovery: %s %+v", slot, same)
	}
	// A damaged state file starts slot a, and says so.
	_ = os.WriteFile(path, []byte(`{"active":"z"}`), 0o600)
	if s, err := LoadState(path); err == nil || s.Active != "a" {
		t.Errorf("damaged state: %+v %v", s, err)
	}
}

func TestRelease(t *testing.T) {
	p := filepath.Join(t.TempDir(), "release")
	_ = os.WriteFile(p, []byte("version=v1.2.0\nboard=rpi4\nkernel=6.1.0-56-arm64\n"), 0o644)
	v, b, err := Release(p)
	if err != nil || v != "v1.2.0" || b != "rpi4" {
		t.Errorf("%q %q %v", v, b, err)
	}
}

func TestInstallAndSchedule(t *testing.T) {
	priv, trusted := keys(t)
	slot := slotFile(t, "b")
	statePath := filepath.Join(t.TempDir(), "boot.json")
	if _, _, err := InstallAndSchedule(bytes.NewReader([]byte("not a bundle")), slot, "rpi4", "v1.0.0", trusted, statePath); err == nil {
		t.Fatal("a bad bundle was installed")
	}
	if _, err := os.Stat(statePath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused bundle changed the boot state: %v", err)
	}
	m, warn, err := InstallAndSchedule(bytes.NewReader(build(t, priv, "v1.1.0", 7).bundle(t)), slot, "rpi4", "v1.0.0", trusted, statePath)
	if err != nil || warn != nil || m.Version != "v1.1.0" {
		t.Fatalf("%+v %v %v", m, warn, err)
	}
	if s, _ := LoadState(statePath); !s.Equal(BootState{Active: "a", Try: "b", Tries: 1, Trial: IDOf(build(t, priv, "v1.1.0", 7).signed)}) {
		t.Errorf("boot state %+v", s)
	}
}

// An update disk left plugged in: the update installs, fails its trial,
// and is not installed again at the next start; a re-signed or newer one
// on the disk is.
func TestUpdateDiskLoop(t *testing.T) {
	priv, trusted := keys(t)
	priv2, trusted2 := keys(t)
	trusted = append(trusted, trusted2...)
	dir := t.TempDir()
	statePath := filepath.Join(dir, "boot.json")
	disk := filepath.Join(dir, "sda")
	other := slotFile(t, "b")
	writeDisk := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(disk, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// start is one boot of the box: the boot loader's choice, saved.
	start := func() string {
		t.Helper()
		s, err := LoadState(statePath)
		if err != nil {
			t.Fatal(err)
		}
		slot, next := s.Choose(false)
		if err := SaveState(statePath, next); err != nil {
			t.Fatal(err)
		}
		return slot
	}
	bad := build(t, priv, "v1.1.0", 0x11)
	writeDisk(bad.bundle(t))

	if slot := start(); slot != "a" {
		t.Fatalf("first start: slot %s", slot)
	}
	if m, _, err := InstallFromDisk(disk, other, "rpi4", "v1.0.0", trusted, statePath); err != nil || m.Version != "v1.1.0" {
		t.Fatalf("the disk's update: %v %v", m.Version, err)
	}
	if slot := start(); slot != "b" {
		t.Fatalf("the trial start: slot %s", slot)
	}
	// v1.1.0 never reports healthy: the watchdog resets the box.
	if slot := start(); slot != "a" {
		t.Fatalf("after the failed trial: slot %s", slot)
	}
	s, _ := LoadState(statePath)
	if s.Failed != "b" || !s.Rejects(IDOf(bad.signed)) || s.Try != "" {
		t.Fatalf("boot state after the failed trial: %+v", s)
	}
	// The next start with the disk still plugged in: skipped, with why.
	_, _, err := InstallFromDisk(disk, other, "rpi4", "v1.0.0", trusted, statePath)
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "v1.1.0") {
		t.Fatalf("the failed update again: %v", err)
	}
	if after, _ := LoadState(statePath); !after.Equal(s) {
		t.Errorf("a skipped update changed the boot state: %+v", after)
	}
	if slot := start(); slot != "a" {
		t.Errorf("a skipped update started slot %s", slot)
	}
	// The running version on the disk is left alone too.
	writeDisk(build(t, priv, "v1.0.0", 0x10).bundle(t))
	if _, _, err := InstallFromDisk(disk, other, "rpi4", "v1.0.0", trusted, statePath); !errors.Is(err, ErrRunning) {
		t.Errorf("the running version: %v", err)
	}

	// The same version re-signed is another update: installed, and it
	// passes its trial.
	resigned := build(t, priv2, "v1.1.0", 0x11)
	writeDisk(resigned.bundle(t))
	if _, _, err := InstallFromDisk(disk, other, "rpi4", "v1.0.0", trusted, statePath); err != nil {
		t.Fatalf("the re-signed update: %v", err)
	}
	if slot := start(); slot != "b" {
		t.Fatalf("the re-signed update's trial: slot %s", slot)
	}
	s, _ = LoadState(statePath)
	committed, ok := s.Commit("b")
	if !ok || committed.Active != "b" || !committed.Rejects(IDOf(bad.signed)) {
		t.Fatalf("commit: %+v %v", committed, ok)
	}
	if err := SaveState(statePath, committed); err != nil {
		t.Fatal(err)
	}
	// A newer one is installed as well, into the slot not running.
	writeDisk(build(t, priv, "v1.2.0", 0x12).bundle(t))
	if m, _, err := InstallFromDisk(disk, slotFile(t, "a"), "rpi4", "v1.1.0", trusted, statePath); err != nil || m.Version != "v1.2.0" {
		t.Fatalf("a newer update: %v %v", m.Version, err)
	}
	if s, _ := LoadState(statePath); s.Try != "a" || !s.Rejects(IDOf(bad.signed)) {
		t.Errorf("boot state with the newer update on trial: %+v", s)
	}
}

// The boot state remembers the newest MaxRejected failed updates; one
// installed again by hand that passes its trial is forgotten.
func TestRejectedBounded(t *testing.T) {
	s := BootState{Active: "a"}
	for i := range MaxRejected + 3 {
		s = s.Schedule("b", UpdateID{Version: "v1.0." + string(rune('0'+i)), Digest: string(rune('a' + i))})
		_, s = s.Choose(false)
		_, s = s.Choose(false)
	}
	if len(s.Rejected) != MaxRejected || s.Rejected[0].Digest != "d" {
		t.Fatalf("rejected %v", s.Rejected)
	}
	again := s.Rejected[2]
	s = s.Schedule("b", again)
	_, s = s.Choose(false)
	s, _ = s.Commit("b")
	if s.Rejects(again) || len(s.Rejected) != MaxRejected-1 {
		t.Errorf("after a good trial of a rejected update: %v", s.Rejected)
	}
	// It survives a save and a load.
	path := filepath.Join(t.TempDir(), "boot.json")
	if err := SaveState(path, s); err != nil {
		t.Fatal(err)
	}
	if back, err := LoadState(path); err != nil || !back.Equal(s) {
		t.Errorf("loaded %+v %v", back, err)
	}
}
