package initd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

const mib = 1 << 20

// cardImage writes a disk image laid out like the box's card (boot, root
// A, root B, an empty data partition of dataSize last), as the image is
// built, then makes the file as big as the card it was flashed to.
func cardImage(t *testing.T, dataSize, cardSize int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "card.img")
	d, err := diskfs.Create(path, 28*mib+dataSize, diskfs.SectorSizeDefault)
	if err != nil {
		t.Fatal(err)
	}
	sect := func(b int64) uint32 { return uint32(b / 512) }
	table := &mbr.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512, Partitions: []*mbr.Partition{
		{Bootable: true, Type: mbr.Fat32LBA, Start: sect(4 * mib), Size: sect(8 * mib)},
		{Type: mbr.Linux, Start: sect(12 * mib), Size: sect(8 * mib)},
		{Type: mbr.Linux, Start: sect(20 * mib), Size: sect(8 * mib)},
		{Type: mbr.Linux, Start: sect(28 * mib), Size: sect(dataSize)},
	}}
	if err := d.Partition(table); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if err := os.Truncate(path, cardSize); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGrowAndFormatDataPartition(t *testing.T) {
	img := cardImage(t, 4*mib, 256*mib+12345) // a card a little over its nominal size
	start, size, grown, err := GrowPartition(img, 4)
	if err != nil || !grown {
		t.Fatalf("grow: %v, %v", grown, err)
	}
	if start != 28*mib || size != 256*mib-28*mib {
		t.Errorf("partition 4 now at %d, %d bytes; want it to end at the last 4 MiB boundary", start, size)
	}
	// The other partitions did not move.
	d, err := diskfs.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := d.GetPartitionTable()
	parts := pt.(*mbr.Table).Partitions
	if parts[0].Start != 8192 || parts[0].Size != 16384 || parts[2].Size != 16384 || !parts[0].Bootable {
		t.Errorf("other partitions changed: %+v %+v", parts[0], parts[2])
	}
	d.Close()
	// Growing again changes nothing; neither does asking for another
	// partition than the last.
	if _, _, grown, err := GrowPartition(img, 4); grown || err != nil {
		t.Errorf("second grow: %v, %v", grown, err)
	}
	if _, _, grown, err := GrowPartition(img, 2); grown || err != nil {
		t.Errorf("grow of a middle partition: %v, %v", grown, err)
	}
	if _, _, _, err := GrowPartition(img, 5); err == nil {
		t.Error("no error for a partition that does not exist")
	}

	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ok, err := HasExt4(f, start); ok || err != nil {
		t.Fatalf("empty partition seen as ext4: %v", err)
	}
	if err := MakeExt4(img, start, size, "sipguard-data"); err != nil {
		t.Fatal(err)
	}
	if ok, err := HasExt4(f, start); !ok || err != nil {
		t.Fatalf("no ext4 after formatting: %v", err)
	}
	if _, err := exec.LookPath("e2fsck"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("e2fsck (e2fsprogs) is needed to check the filesystem")
		}
		t.Skip("no e2fsck to check the filesystem")
	}
	// e2fsprogs checks what was made, read-only and forced.
	part := filepath.Join(t.TempDir(), "data.ext4")
	out, err := os.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(start, 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, mib)
	for copied := int64(0); copied < size; copied += mib {
		if _, err := f.Read(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := out.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	out.Close()
	if b, err := exec.Command("e2fsck", "-f", "-n", part).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck: %v\n%s", err, b)
	}
	b, err := exec.Command("dumpe2fs", "-h", part).CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs: %v\n%s", err, b)
	}
	for _, want := range []string{"sipguard-data", "has_journal", "Block size:               4096", "Reserved block count:     0"} {
		if !containsLine(string(b), want) {
			t.Errorf("filesystem lacks %q:\n%s", want, b)
		}
	}
}

// A card no bigger than the image keeps the image's data partition as it
// is, which must format too.
func TestFormatSmallDataPartition(t *testing.T) {
	img := cardImage(t, 64*mib, 28*mib+64*mib)
	start, size, grown, err := GrowPartition(img, 4)
	if err != nil || grown {
		t.Fatalf("grow: %v, %v", grown, err)
	}
	if err := MakeExt4(img, start, size, "sipguard-data"); err != nil {
		t.Fatal(err)
	}
}

func containsLine(s, sub string) bool {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return true
		}
	}
	return false
}
