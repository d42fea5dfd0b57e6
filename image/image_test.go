package image_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/mbr"

	"github.com/sipguard/sipguard/board/boardtest"
	"github.com/sipguard/sipguard/image"
)

const release = "6.1.0-99-arm64"

func TestInitramfs(t *testing.T) {
	files, err := image.Initramfs([]byte("the binary"), boardtest.ModuleTree(), release, []string{"bridge", "af_packet"})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	for _, want := range []string{"init", "dev", "proc", "newroot", "lib/modules/" + release + "/modules.builtin",
		"lib/modules/" + release + "/kernel/net/bridge/bridge.ko", "lib/modules/" + release + "/kernel/net/802/stp.ko",
		"lib/modules/" + release + "/kernel/net/llc/llc.ko"} {
		if !slices.Contains(paths, want) {
			t.Errorf("initramfs lacks %s: %v", want, paths)
		}
	}
	if slices.ContainsFunc(paths, func(p string) bool { return strings.Contains(p, "ext4") }) {
		t.Error("a module nobody asked for is in the initramfs")
	}
	if !slices.IsSorted(paths) {
		t.Error("entries not in order")
	}
	// Parents come before their children.
	for i, p := range paths {
		if d := filepath.Dir(p); d != "." && slices.Index(paths, d) > i {
			t.Errorf("%s comes before its folder", p)
		}
	}

	var a, b bytes.Buffer
	epoch := time.Unix(1764000000, 0)
	if err := image.WriteCPIO(&a, files, epoch); err != nil {
		t.Fatal(err)
	}
	if err := image.WriteCPIO(&b, files, epoch); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same files gave different archives")
	}
	back, err := image.ReadCPIO(bytes.NewReader(a.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(files) || string(back[slices.IndexFunc(back, func(f image.File) bool { return f.Path == "init" })].Data) != "the binary" {
		t.Errorf("archive read back: %d entries", len(back))
	}
	for _, f := range back {
		if f.Path == "init" && f.Mode.Perm() != 0o755 {
			t.Errorf("init mode %v", f.Mode)
		}
	}

	if _, err := image.Initramfs(nil, boardtest.ModuleTree(), release, []string{"bcm2835_wdt"}); err == nil || !strings.Contains(err.Error(), "bcm2835_wdt") {
		t.Errorf("a module the kernel lacks: %v", err)
	}
}

// fakePackages lays out unpacked kernel and firmware packages with small
// stand-ins for the real files.
func fakePackages(t *testing.T) (kernel, firmware string) {
	t.Helper()
	dir := t.TempDir()
	kernel, firmware = filepath.Join(dir, "kernel"), filepath.Join(dir, "firmware")
	write := func(p string, data []byte) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, f := range boardtest.ModuleTree() {
		write(filepath.Join(kernel, "lib/modules", release, name), f.Data)
	}
	write(filepath.Join(kernel, "boot", "vmlinuz-"+release), []byte("ARM64 kernel"))
	for _, dtb := range []string{"bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb", "bcm2711-rpi-cm4-io.dtb"} {
		write(filepath.Join(kernel, "usr/lib/linux-image-"+release, "broadcom", dtb), []byte(dtb))
	}
	for _, f := range []string{"start4.elf", "fixup4.dat"} {
		write(filepath.Join(firmware, "usr/lib/raspi-firmware", f), []byte(f))
	}
	return kernel, firmware
}

func TestStageAndLayOut(t *testing.T) {
	kernel, firmware := fakePackages(t)
	bin := filepath.Join(t.TempDir(), "sipguard")
	if err := os.WriteFile(bin, []byte("sipguard for arm64"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := image.Spec{Board: "rpi4", Version: "1.2.3", Kernel: kernel, Firmware: firmware, Binary: bin,
		Modules: []string{"bridge", "nf_tables", "ext4"}, Epoch: time.Unix(1764000000, 0)}
	for _, bad := range []func(*image.Spec){
		func(s *image.Spec) { s.Board = "rpi3" },
		func(s *image.Spec) { s.Firmware = "" },
		func(s *image.Spec) { s.Modules = append(s.Modules, "no_such_module") },
		func(s *image.Spec) { s.Binary = filepath.Join(t.TempDir(), "missing") },
	} {
		s := spec
		bad(&s)
		if err := image.Stage(s, filepath.Join(t.TempDir(), "root")); err == nil {
			t.Errorf("no error for %+v", s)
		}
	}

	staged := filepath.Join(t.TempDir(), "root")
	if err := image.Stage(spec, staged); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"sbin/init", "etc/sipguard/release", "data", "boot/vmlinuz", "boot/initramfs.gz",
		"boot/config.txt", "boot/cmdline.txt", "boot/start4.elf", "boot/bcm2711-rpi-4-b.dtb"} {
		st, err := os.Stat(filepath.Join(staged, p))
		if err != nil {
			t.Errorf("staged tree lacks %s", p)
			continue
		}
		if !st.ModTime().Equal(spec.Epoch) {
			t.Errorf("%s dated %v, want SOURCE_DATE_EPOCH", p, st.ModTime())
		}
	}
	cmdline, _ := os.ReadFile(filepath.Join(staged, "boot/cmdline.txt"))
	if !strings.Contains(string(cmdline), "sipguard.root=PARTUUID=5195a7d0-02") || !strings.Contains(string(cmdline), "sipguard.data=PARTUUID=5195a7d0-04") {
		t.Errorf("cmdline.txt: %s", cmdline)
	}

	if _, err := os.Stat("/usr/bin/genimage"); err != nil && os.Getenv("CI") != "true" {
		t.Skip("no genimage")
	}
	// Two builds from the same inputs: the same bytes.
	var sums [][32]byte
	var img string
	for i := range 2 {
		work := t.TempDir()
		img = filepath.Join(work, "card.img")
		if err := image.Genimage(context.Background(), "genimage.cfg", staged, work, img, spec.Epoch); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		sums = append(sums, [32]byte(h.Sum(nil)))
		_ = i
	}
	if sums[0] != sums[1] {
		t.Error("two builds from the same inputs differ")
	}

	d, err := diskfs.Open(img, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pt, err := d.GetPartitionTable()
	if err != nil {
		t.Fatal(err)
	}
	parts := pt.(*mbr.Table).Partitions
	const mib = 1 << 20
	want := []struct {
		typ         mbr.Type
		start, size int64
	}{{mbr.Fat32LBA, 4 * mib, 128 * mib}, {mbr.Linux, 132 * mib, 64 * mib}, {mbr.Linux, 196 * mib, 64 * mib}, {mbr.Linux, 260 * mib, 64 * mib}}
	for i, w := range want {
		p := parts[i]
		if p.Type != w.typ || int64(p.Start)*512 != w.start || int64(p.Size)*512 != w.size {
			t.Errorf("partition %d: type %#x at %d MiB, %d MiB; want %#x at %d MiB, %d MiB", i+1,
				p.Type, int64(p.Start)*512/mib, int64(p.Size)*512/mib, w.typ, w.start/mib, w.size/mib)
		}
	}
	if !parts[0].Bootable || parts[0].UUID() != image.DiskSignature+"-01" {
		t.Errorf("boot partition: bootable %v, PARTUUID %s", parts[0].Bootable, parts[0].UUID())
	}
	boot, err := d.GetFilesystem(1)
	if err != nil {
		t.Fatal(err)
	}
	f, err := boot.OpenFile("/config.txt", os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := io.ReadAll(f)
	if !strings.Contains(string(cfg), "initramfs initramfs.gz followkernel") {
		t.Errorf("config.txt on the boot partition:\n%s", cfg)
	}
	// squashfs-tools read the root slot, from its place on the card.
	slot := func(option string, files ...string) string {
		args := append([]string{"-o", strconv.Itoa(132 * mib), option, img}, files...)
		out, err := exec.Command("unsquashfs", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("unsquashfs %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if got := slot("-cat", "sbin/init"); got != "sipguard for arm64" {
		t.Errorf("root slot's init: %q", got)
	}
	if list := slot("-lc"); strings.Contains(list, "vmlinuz") || !strings.Contains(list, "etc/sipguard/release") {
		t.Errorf("root slot holds:\n%s", list)
	}
	// The data partition is all zeros: the box formats it on first boot.
	zeros := make([]byte, 1<<16)
	got := make([]byte, len(zeros))
	raw, _ := os.Open(img)
	defer raw.Close()
	if _, err := raw.ReadAt(got, 260*mib); err != nil || !bytes.Equal(got, zeros) {
		t.Errorf("data partition not empty: %v", err)
	}
}
