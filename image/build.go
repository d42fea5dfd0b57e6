package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DiskSignature is the MBR disk identifier of every card; the kernel
// command line finds the root and data partitions by it.
const DiskSignature = "5195a7d0"

// Spec is what goes into an image.
type Spec struct {
	Board    string // "rpi4" or "qemu"
	Version  string
	Kernel   string // root of the unpacked linux-image-<release>-arm64 package
	Firmware string // root of the unpacked raspi-firmware package (rpi4 only)
	Binary   string // the static arm64 sipguard binary
	Modules  []string
	Epoch    time.Time // SOURCE_DATE_EPOCH: the time of every file
}

// Boards are the boards an image can be built for.
var Boards = []string{"rpi4", "qemu"}

// Cmdline is the kernel command line of a board's image.
func Cmdline(board string) string {
	common := "sipguard.root=PARTUUID=" + DiskSignature + "-02 sipguard.data=PARTUUID=" + DiskSignature + "-04"
	if board == "qemu" {
		return "console=ttyAMA0 " + common + " sipguard.wan=eth0 sipguard.lan=eth1"
	}
	return "console=ttyS1,115200 console=tty1 " + common + " quiet"
}

// ConfigTxt is the Raspberry Pi firmware's configuration for the Pi 4,
// the Pi 400 and the CM4.
const ConfigTxt = `# sipguard: boot configuration of the Raspberry Pi 4, 400 and CM4
arm_64bit=1
kernel=vmlinuz
initramfs initramfs.gz followkernel
enable_uart=1
disable_splash=1

[cm4]
device_tree=bcm2711-rpi-cm4-io.dtb

[all]
`

// KernelRelease finds the release of the unpacked kernel package: the one
// folder under lib/modules.
func KernelRelease(kernelRoot string) (string, error) {
	entries, err := os.ReadDir(filepath.Join(kernelRoot, "lib/modules"))
	if err != nil {
		return "", fmt.Errorf("kernel package: %w", err)
	}
	if len(entries) != 1 {
		return "", fmt.Errorf("kernel package %s: want one release under lib/modules, found %d", kernelRoot, len(entries))
	}
	return entries[0].Name(), nil
}

// Stage lays out the card's content under dir: dir/boot is the boot
// partition, the rest the root slot (genimage.cfg says how).
func Stage(spec Spec, dir string) error {
	if !validBoard(spec.Board) {
		return fmt.Errorf("board %q: want one of %v", spec.Board, Boards)
	}
	release, err := KernelRelease(spec.Kernel)
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(spec.Binary)
	if err != nil {
		return err
	}
	files, err := Initramfs(bin, os.DirFS(filepath.Join(spec.Kernel, "lib/modules", release)), release, spec.Modules)
	if err != nil {
		return err
	}
	var initramfs bytes.Buffer
	if err := WriteCPIO(&initramfs, files, spec.Epoch); err != nil {
		return err
	}
	kernel, err := os.ReadFile(filepath.Join(spec.Kernel, "boot", "vmlinuz-"+release))
	if err != nil {
		return fmt.Errorf("kernel: %w", err)
	}

	root := []File{
		{Path: "sbin/init", Mode: 0o755, Data: bin},
		{Path: "etc/sipguard/release", Mode: 0o644, Data: fmt.Appendf(nil, "version=%s\nboard=%s\nkernel=%s\n", spec.Version, spec.Board, release)},
		{Path: "boot/vmlinuz", Mode: 0o644, Data: kernel},
		{Path: "boot/initramfs.gz", Mode: 0o644, Data: initramfs.Bytes()},
		{Path: "boot/cmdline.txt", Mode: 0o644, Data: []byte(Cmdline(spec.Board) + "\n")},
	}
	for _, d := range Dirs {
		if d != "newroot" {
			root = append(root, File{Path: d, Mode: fs.ModeDir | 0o755})
		}
	}
	if spec.Board == "rpi4" {
		boot, err := piBootFiles(spec, release)
		if err != nil {
			return err
		}
		root = append(root, boot...)
	}
	return writeTree(dir, withParents(root), spec.Epoch)
}

func validBoard(b string) bool {
	for _, x := range Boards {
		if b == x {
			return true
		}
	}
	return false
}

// piBootFiles are the Raspberry Pi 4 firmware, its configuration and the
// device trees of the Pi 4, the Pi 400 and the CM4.
func piBootFiles(spec Spec, release string) ([]File, error) {
	if spec.Firmware == "" {
		return nil, errors.New("rpi4: the Raspberry Pi firmware package is needed")
	}
	var out []File
	read := func(src, name string) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("rpi4 boot files: %w", err)
		}
		out = append(out, File{Path: "boot/" + name, Mode: 0o644, Data: b})
		return nil
	}
	fw := filepath.Join(spec.Firmware, "usr/lib/raspi-firmware")
	for _, f := range []string{"start4.elf", "fixup4.dat"} {
		if err := read(filepath.Join(fw, f), f); err != nil {
			return nil, err
		}
	}
	dtbs := filepath.Join(spec.Kernel, "usr/lib/linux-image-"+release, "broadcom")
	for _, f := range []string{"bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb", "bcm2711-rpi-cm4-io.dtb"} {
		if err := read(filepath.Join(dtbs, f), f); err != nil {
			return nil, err
		}
	}
	out = append(out, File{Path: "boot/config.txt", Mode: 0o644, Data: []byte(ConfigTxt)})
	return out, nil
}

// writeTree writes files under dir, every one dated epoch.
func writeTree(dir string, files []File, epoch time.Time) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		var err error
		if f.Mode.IsDir() {
			err = os.MkdirAll(p, f.Mode.Perm())
		} else {
			err = os.WriteFile(p, f.Data, f.Mode.Perm())
		}
		if err != nil {
			return err
		}
	}
	// Dates last, deepest first: writing a file changes its folder's date.
	for i := len(files) - 1; i >= 0; i-- {
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(files[i].Path)), epoch, epoch); err != nil {
			return err
		}
	}
	return os.Chtimes(dir, epoch, epoch)
}

// Genimage runs genimage with config on the staged tree, in work, and
// leaves the card at out.
func Genimage(ctx context.Context, config, staged, work, out string, epoch time.Time) error {
	tmp := filepath.Join(work, "tmp")
	images := filepath.Join(work, "images")
	for _, d := range []string{tmp, images} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(images, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "genimage", "--config", config, "--rootpath", staged,
		"--tmppath", tmp, "--inputpath", images, "--outputpath", images)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch.Unix(), 10), "TZ=UTC")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("genimage: %w\n%s", err, strings.TrimSpace(string(b)))
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.Rename(filepath.Join(images, "sipguard.img"), out)
}
