package initd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DataPreparer mounts the data partition on the box, creating its
// filesystem on first boot.
type DataPreparer struct {
	Sys System
	Log *slog.Logger
	// Wait is how long to wait for the device to appear (SD cards and USB
	// disks are probed after init starts).
	Wait time.Duration
}

// Prepare implements Init.PrepareData: on first boot the data partition is
// empty; it is grown to fill the card, given a filesystem and mounted. On
// later boots it is mounted as it is. A partition holding something that is
// not ext4 and not zeros is never formatted: the box then runs without
// keeping state, and says so.
func (p DataPreparer) Prepare(ctx context.Context, cfg DataConfig) (string, error) {
	if cfg.Device == "" {
		return "", errors.New("no device")
	}
	if err := waitFor(ctx, cfg.Device, p.Wait); err != nil {
		return "", err
	}
	part, err := os.Open(cfg.Device)
	if err != nil {
		return "", err
	}
	head := make([]byte, 64<<10)
	_, err = part.ReadAt(head, 0)
	part.Close()
	if err != nil {
		return "", fmt.Errorf("%s: %w", cfg.Device, err)
	}
	if ok, _ := HasExt4(bytes.NewReader(head), 0); !ok {
		if !isZero(head) {
			return "", fmt.Errorf("%s holds neither an ext4 filesystem nor zeros: not formatting it", cfg.Device)
		}
		if err := p.firstBoot(cfg); err != nil {
			return "", err
		}
	}
	const flags = MountNoAtime | MountNoDev | MountNoSuid | MountNoExec
	if err := p.Sys.Mount(cfg.Device, cfg.Target, "ext4", flags, ""); err != nil {
		return "", fmt.Errorf("mount %s on %s: %w", cfg.Device, cfg.Target, err)
	}
	return cfg.Target, nil
}

// firstBoot grows the empty data partition to the end of the card, tells
// the kernel its new size, and creates the filesystem.
func (p DataPreparer) firstBoot(cfg DataConfig) error {
	disk, index, err := parentDisk(cfg.Device)
	if err != nil {
		return err
	}
	start, size, grown, err := GrowPartition(disk, index)
	if err != nil {
		return err
	}
	if grown {
		if err := resizePartition(disk, index, start, size); err != nil {
			return err
		}
		p.Log.Info("data partition grown to fill the card", "device", cfg.Device, "bytes", size)
	}
	began := time.Now()
	// Written through the partition's own device, the one mounted next:
	// the disk's device has a page cache of its own.
	if err := MakeExt4(cfg.Device, 0, size, cfg.Label); err != nil {
		return err
	}
	p.Log.Info("data partition formatted", "device", cfg.Device, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

func waitFor(ctx context.Context, path string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		_, err := os.Stat(path)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// parentDisk finds, through sysfs, the disk that holds a partition and the
// partition's number: /dev/mmcblk0p4 → /dev/mmcblk0, 4.
func parentDisk(partition string) (string, int, error) {
	name := filepath.Base(partition)
	sys := filepath.Join("/sys/class/block", name)
	b, err := os.ReadFile(filepath.Join(sys, "partition"))
	if err != nil {
		return "", 0, fmt.Errorf("%s is not a partition: %w", partition, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return "", 0, fmt.Errorf("%s: partition number %q", partition, b)
	}
	real, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return "", 0, err
	}
	return filepath.Join("/dev", filepath.Base(filepath.Dir(real))), n, nil
}

// resizePartition tells the kernel a partition's new bounds
// (BLKPG_RESIZE_PARTITION), which works while other partitions of the same
// disk are mounted.
func resizePartition(disk string, index int, start, size int64) error {
	f, err := os.OpenFile(disk, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	part := unix.BlkpgPartition{Start: start, Length: size, Pno: int32(index)}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_RESIZE_PARTITION, Datalen: int32(unsafe.Sizeof(part)), Data: (*byte)(unsafe.Pointer(&part))}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg))); errno != 0 {
		return fmt.Errorf("%s: telling the kernel partition %d's new size: %w", disk, index, errno)
	}
	return nil
}
