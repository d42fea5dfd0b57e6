package initd

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// TestPrepareDataOnALoopDevice boots the data partition of a freshly
// flashed card image attached as a real block device: grown to fill the
// card while the kernel holds the disk, formatted, mounted; on the next
// boot it is mounted again with what was written.
func TestPrepareDataOnALoopDevice(t *testing.T) {
	netlab.RequireRoot(t)
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("this kernel has no loop devices")
	}
	img := cardImage(t, 4*mib, 128*mib)
	out, err := exec.Command("losetup", "--find", "--show", "--partscan", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "--detach", loop).Run() })
	dev := loop + "p4"
	if err := waitFor(context.Background(), filepath.Join("/sys/class/block", filepath.Base(dev)), time.Second); err != nil {
		// Kernels built without MBR partition support (like the CI's VM
		// kernel) do not scan the loop device; the image's QEMU boot test
		// covers this path on the box's own kernel.
		t.Skip("this kernel does not see partitions on loop devices")
	}
	target := t.TempDir()
	p := DataPreparer{Sys: Linux{}, Log: quiet(), Wait: 5 * time.Second}
	cfg := DataConfig{Device: dev, Target: target, Label: "sipguard-data"}

	dir, err := p.Prepare(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(target, unix.MNT_DETACH) })
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if total := int64(st.Blocks) * st.Bsize; total < 90*mib {
		t.Errorf("filesystem of %d MiB: the partition was not grown to the card's 96 MiB", total/mib)
	}
	if st.Type != unix.EXT4_SUPER_MAGIC {
		t.Errorf("filesystem type %#x", st.Type)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.db"), []byte("lists and bans"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (Linux{}).Unmount(target); err != nil {
		t.Fatal(err)
	}

	// Next boot: mounted as it is, nothing formatted.
	if _, err := p.Prepare(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "state.db")); err != nil || string(b) != "lists and bans" {
		t.Errorf("after a reboot: %q, %v", b, err)
	}
	if err := (Linux{}).Unmount(target); err != nil {
		t.Fatal(err)
	}

	// A partition holding something else is never formatted.
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 4096), 0); err != nil { // wipe the superblock
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("someone else's data"), 8192); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := p.Prepare(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "not formatting") {
		t.Errorf("foreign data: %v", err)
	}
	// And a missing device is an error after the wait, not a hang.
	p.Wait = 100 * time.Millisecond
	if _, err := p.Prepare(context.Background(), DataConfig{Device: loop + "p9", Target: target}); err == nil {
		t.Error("no error for a missing device")
	}
}
