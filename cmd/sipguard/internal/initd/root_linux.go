package initd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ResolveDevice turns a device spec from the kernel command line into a
// device path: a path (/dev/mmcblk0p2) as it is, or PARTUUID=xxxxxxxx-NN,
// partition NN of the disk whose MBR disk identifier is xxxxxxxx — the same
// card is mmcblk0 on one board and mmcblk1 or vda on another. It waits up to
// limit for the device to appear.
func ResolveDevice(ctx context.Context, spec string, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		dev, err := resolveOnce(spec)
		if err == nil {
			if _, err = os.Stat(dev); err == nil {
				return dev, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("device %s: %w", spec, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func resolveOnce(spec string) (string, error) {
	id, ok := strings.CutPrefix(spec, "PARTUUID=")
	if !ok {
		return spec, nil
	}
	sig, num, ok := strings.Cut(strings.ToLower(id), "-")
	n, err := strconv.Atoi(num)
	if !ok || len(sig) != 8 || err != nil {
		return "", fmt.Errorf("%q: want PARTUUID=xxxxxxxx-NN (an MBR partition)", spec)
	}
	disks, err := os.ReadDir("/sys/block")
	if err != nil {
		return "", err
	}
	for _, d := range disks {
		if diskSignature("/dev/"+d.Name()) != sig {
			continue
		}
		parts, _ := filepath.Glob(filepath.Join("/sys/block", d.Name(), d.Name()+"*", "partition"))
		for _, p := range parts {
			if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(n) {
				return "/dev/" + filepath.Base(filepath.Dir(p)), nil
			}
		}
	}
	return "", errors.New("not found")
}

// diskSignature reads the MBR disk identifier of a disk, "" if it has none.
func diskSignature(disk string) string {
	f, err := os.Open(disk)
	if err != nil {
		return ""
	}
	defer f.Close()
	var mbr [512]byte
	if _, err := f.ReadAt(mbr[:], 0); err != nil || mbr[510] != 0x55 || mbr[511] != 0xaa {
		return ""
	}
	return fmt.Sprintf("%08x", binary.LittleEndian.Uint32(mbr[440:444]))
}

// InInitramfs reports whether the root filesystem is the initramfs.
func InInitramfs() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return false
	}
	return st.Type == unix.RAMFS_MAGIC || st.Type == unix.TMPFS_MAGIC
}

// SwitchRoot mounts the read-only root slot on /newroot, moves the pseudo
// filesystems into it, frees the initramfs, makes the slot the root and
// executes its /sbin/init. It returns only on error; the caller then goes
// on from the initramfs, which holds the same binary.
func SwitchRoot(dev string, moved []string) error {
	const newRoot = "/newroot"
	if err := unix.Mount(dev, newRoot, "squashfs", unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mount root slot %s: %w", dev, err)
	}
	if _, err := os.Stat(newRoot + "/sbin/init"); err != nil {
		_ = unix.Unmount(newRoot, 0)
		return fmt.Errorf("root slot %s: %w", dev, err)
	}
	for _, m := range moved {
		if err := unix.Mount(m, newRoot+m, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s: %w", m, err)
		}
	}
	// The initramfs stays in memory (the binary and the modules, some
	// 20 MB): emptying it would leave no way back if a step below failed.
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move the root slot to /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return err
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	return unix.Exec("/sbin/init", []string{"/sbin/init"}, os.Environ())
}

// attachConsole gives init its standard streams when the kernel could not
// (an initramfs without /dev/console): it opens the console on devtmpfs.
func attachConsole() {
	if _, err := unix.FcntlInt(1, unix.F_GETFD, 0); err == nil {
		return
	}
	_ = unix.Mount("devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755")
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := range 3 {
		_ = unix.Dup3(fd, i, 0)
	}
	if fd > 2 {
		unix.Close(fd)
	}
}
