package initd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// DataConfig says where the box keeps its state: lists, bans, settings and
// the attack log.
type DataConfig struct {
	// Device is the data partition (kernel command line: sipguard.data=),
	// e.g. /dev/mmcblk0p4. Empty: no data partition, nothing survives a
	// reboot.
	Device string
	// Target is where it is mounted.
	Target string
	// Label names the filesystem created on first boot.
	Label string
}

// align is the granularity of partition ends: 4 MiB, the erase block size
// that SD cards are commonly built around.
const align = 4 << 20

// GrowPartition makes partition index (1-4) of the MBR disk (a device or
// an image file) fill the disk when it is the last partition, and reports
// its new start and size in bytes, and whether it grew. A partition that is
// not the last one, or already fills the disk, is left as it is.
func GrowPartition(diskPath string, index int) (start, size int64, grown bool, err error) {
	d, err := diskfs.Open(diskPath, diskfs.WithOpenMode(diskfs.ReadWrite))
	if err != nil {
		return 0, 0, false, fmt.Errorf("open %s: %w", diskPath, err)
	}
	defer d.Close()
	pt, err := d.GetPartitionTable()
	if err != nil {
		return 0, 0, false, fmt.Errorf("%s: partition table: %w", diskPath, err)
	}
	t, ok := pt.(*mbr.Table)
	if !ok {
		return 0, 0, false, fmt.Errorf("%s: %s partition table, want an MBR one", diskPath, pt.Type())
	}
	if index < 1 || index > len(t.Partitions) || t.Partitions[index-1].Size == 0 {
		return 0, 0, false, fmt.Errorf("%s: no partition %d", diskPath, index)
	}
	sector := int64(t.LogicalSectorSize)
	p := t.Partitions[index-1]
	start, size = int64(p.Start)*sector, int64(p.Size)*sector
	for i, q := range t.Partitions {
		if i != index-1 && q.Size != 0 && q.Start > p.Start {
			return start, size, false, nil // not the last partition
		}
	}
	end := d.Size / align * align
	if end > int64(^uint32(0))*sector {
		end = int64(^uint32(0)) * sector / align * align // what an MBR can address
	}
	if end <= start+size {
		return start, size, false, nil
	}
	p.Size = uint32((end - start) / sector)
	// The table alone is written: the kernel is told of the one partition
	// that changed by the caller, since a disk whose root partition is
	// mounted cannot have its whole table read again.
	w, err := d.Backend.Writable()
	if err != nil {
		return 0, 0, false, fmt.Errorf("%s: %w", diskPath, err)
	}
	if err := t.Write(w, d.Size); err != nil {
		return 0, 0, false, fmt.Errorf("%s: writing the partition table: %w", diskPath, err)
	}
	if err := syncPath(diskPath); err != nil {
		return 0, 0, false, err
	}
	return start, end - start, true, nil
}

// ext4Magic is at offset 0x38 of the superblock, which starts 1024 bytes
// into the filesystem.
const (
	ext4MagicAt = 1024 + 0x38
	ext4Magic   = 0xEF53
)

// HasExt4 reports whether an ext2/3/4 superblock starts at offset off of r.
func HasExt4(r io.ReaderAt, off int64) (bool, error) {
	var b [2]byte
	if _, err := r.ReadAt(b[:], off+ext4MagicAt); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	return binary.LittleEndian.Uint16(b[:]) == ext4Magic, nil
}

// MakeExt4 creates an ext4 filesystem with a journal, labelled label, in
// the size bytes at start of path (a partition, a disk or an image file),
// and makes it durable.
func MakeExt4(path string, start, size int64, label string) error {
	if err := makeExt4(path, start, size, label); err != nil {
		return err
	}
	return syncPath(path)
}

// syncPath flushes what was written to a file or device, through any of
// its descriptors, to the medium.
func syncPath(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: sync: %w", path, err)
	}
	return nil
}

func makeExt4(diskPath string, start, size int64, label string) error {
	d, err := diskfs.Open(diskPath, diskfs.WithOpenMode(diskfs.ReadWrite))
	if err != nil {
		return fmt.Errorf("open %s: %w", diskPath, err)
	}
	defer d.Close()
	// 4 KiB blocks, no blocks kept for root (the box has one user), and no
	// room kept for growing the filesystem later: it is made at full size.
	p := &ext4.Params{VolumeName: label, SectorsPerBlock: 8, ReservedBlocksPercent: 0,
		Features: []ext4.FeatureOpt{ext4.WithFeatureReservedGDTBlocksForExpansion(false)}}
	if _, err := ext4.Create(d.Backend, size, start, 512, p); err != nil {
		return fmt.Errorf("%s: creating the filesystem: %w", diskPath, err)
	}
	return nil
}

// isZero reports whether b holds only zero bytes.
func isZero(b []byte) bool {
	return len(bytes.TrimLeft(b, "\x00")) == 0
}
