package image_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	diskfs "github.com/diskfs/go-diskfs"

	"github.com/sipguard/sipguard/board"
	"github.com/sipguard/sipguard/image"
	"github.com/sipguard/sipguard/image/manifest"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// debs is the folder of the unpacked Debian packages (make fetches them
// with image/fetch-debs.sh and names the folder in SIPGUARD_DEBS).
func debs(t *testing.T) string {
	t.Helper()
	d := os.Getenv("SIPGUARD_DEBS")
	if d == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SIPGUARD_DEBS is not set: run the tests with make, which fetches the kernel")
		}
		t.Skip("SIPGUARD_DEBS is not set (make image-test fetches the kernel and sets it)")
	}
	abs, err := filepath.Abs(d)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// builder builds the QEMU board's firmware from this tree, as make image
// does, signed with a key of its own that the firmware trusts.
type builder struct {
	t   *testing.T
	dir string
	key ed25519.PrivateKey
	bin string // sipguard for arm64, trusting key
}

func newBuilder(t *testing.T) *builder {
	t.Helper()
	netlab.RequireTool(t, "genimage")
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := &builder{t: t, dir: t.TempDir(), key: key}
	b.bin = b.goBuild("../cmd/sipguard", "-s -w -X github.com/sipguard/sipguard/image/manifest.trustedKeys="+manifest.EncodePublicKey(pub))
	return b
}

// goBuild builds a command for the box.
func (b *builder) goBuild(pkg, ldflags string) string {
	b.t.Helper()
	out := filepath.Join(b.dir, filepath.Base(pkg)+"-arm64")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
	return out
}

// build lays out and signs firmware version with init as the root slot's
// /sbin/init; it returns the work folder's card, boot files and update
// bundle.
func (b *builder) build(version, init string) (img, boot, bundle string) {
	t := b.t
	t.Helper()
	work := filepath.Join(b.dir, version)
	spec := image.Spec{Board: "qemu", Version: version, Kernel: filepath.Join(debs(t), "kernel"), Binary: init,
		Modules: board.KernelModules(), Epoch: time.Unix(1764000000, 0)}
	staged := filepath.Join(work, "root")
	if err := image.Stage(spec, staged); err != nil {
		t.Fatal(err)
	}
	img = filepath.Join(work, "sipguard-qemu.img")
	if err := image.Genimage(context.Background(), "genimage.cfg", staged, work, img, spec.Epoch); err != nil {
		t.Fatal(err)
	}
	rootImage := filepath.Join(work, "images", "root.squashfs")
	signed, err := image.SignCard(spec, staged, rootImage, img, b.key)
	if err != nil {
		t.Fatal(err)
	}
	bundle = filepath.Join(work, "update.bundle")
	if err := image.WriteBundle(bundle, signed, rootImage); err != nil {
		t.Fatal(err)
	}
	return img, filepath.Join(staged, "boot"), bundle
}

// buildImage builds the QEMU board's signed card, on a card of cardSize
// bytes.
func buildImage(t *testing.T, cardSize int64) (img, boot string) {
	t.Helper()
	b := newBuilder(t)
	img, boot, _ = b.build("v1.0.0", b.bin)
	if err := os.Truncate(img, cardSize); err != nil {
		t.Fatal(err)
	}
	return img, boot
}

// vm is the emulated box, its two ports patched to the lab's wan and lan
// links through taps in the box namespace.
type vm struct {
	cmd     *exec.Cmd
	console *netlab.Buffer
	started time.Time
	done    chan struct{} // closed when the emulator has exited
}

func patchTaps(t *testing.T, lab *netlab.Lab) {
	t.Helper()
	ctx := context.Background()
	for _, p := range []struct{ port, tap, br string }{{netlab.WANPort, "tapw", "brw"}, {netlab.LANPort, "tapl", "brl"}} {
		for _, args := range [][]string{
			{"tuntap", "add", "dev", p.tap, "mode", "tap"},
			{"link", "add", p.br, "type", "bridge", "stp_state", "0", "forward_delay", "0"},
			// A patch cable says nothing: no IPv6 link-local address.
			{"link", "set", p.br, "addrgenmode", "none"},
			{"link", "set", p.tap, "addrgenmode", "none"},
			{"link", "set", p.port, "addrgenmode", "none"},
			{"link", "set", p.port, "master", p.br},
			{"link", "set", p.tap, "master", p.br},
			{"link", "set", p.port, "up"},
			{"link", "set", p.tap, "up"},
			{"link", "set", p.br, "up"},
		} {
			if out, err := lab.Box.Output(ctx, "ip", args...); err != nil {
				t.Fatalf("ip %v: %v %s", args, err, out)
			}
		}
	}
}

func bootVM(t *testing.T, lab *netlab.Lab, img, boot string) *vm {
	t.Helper()
	return bootVMWith(t, lab, img, boot, "")
}

// bootVMWith boots the card with, if update is not empty, an update bundle
// on a second disk named on the kernel command line (a USB stick, on the
// box).
func bootVMWith(t *testing.T, lab *netlab.Lab, img, boot, update string) *vm {
	t.Helper()
	qemu := netlab.RequireTool(t, "qemu-system-aarch64")
	cmdline, err := os.ReadFile(filepath.Join(boot, "cmdline.txt"))
	if err != nil {
		t.Fatal(err)
	}
	v := &vm{console: &netlab.Buffer{}, started: time.Now(), done: make(chan struct{})}
	v.cmd = lab.Box.Command(context.Background(), qemu,
		"-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "512", "-nographic", "-no-reboot",
		"-kernel", filepath.Join(boot, "vmlinuz"), "-initrd", filepath.Join(boot, "initramfs.gz"),
		"-append", strings.TrimSpace(string(cmdline))+" panic=-1"+updateArg(update),
		"-drive", "file="+img+",if=virtio,format=raw",
		"-netdev", "tap,id=wan,ifname=tapw,script=no,downscript=no", "-device", "virtio-net-pci,netdev=wan,mac=52:54:00:00:00:01,romfile=",
		"-netdev", "tap,id=lan,ifname=tapl,script=no,downscript=no", "-device", "virtio-net-pci,netdev=lan,mac=52:54:00:00:00:02,romfile=")
	if update != "" {
		v.cmd.Args = append(v.cmd.Args, "-drive", "file="+update+",if=virtio,format=raw,readonly=on")
	}
	v.cmd.Stdout, v.cmd.Stderr = v.console, v.console
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = v.cmd.Wait()
		close(v.done)
	}()
	t.Cleanup(v.powerCut)
	return v
}

func updateArg(update string) string {
	if update == "" {
		return ""
	}
	return " sipguard.update=/dev/vdb"
}

// exited waits for the emulator to end by itself (the box rebooted).
func (v *vm) exited(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-v.done:
	case <-time.After(limit):
		t.Fatalf("the box did not reboot within %v:\n%s", limit, v.console)
	}
}

// powerCut ends the emulator at once: for the box, the power is cut.
func (v *vm) powerCut() {
	_ = syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
	<-v.done
}

// waitFor waits for a console line and returns how long after the start it
// came.
func (v *vm) waitFor(t *testing.T, re string, limit time.Duration) time.Duration {
	t.Helper()
	r := regexp.MustCompile(re)
	deadline := time.Now().Add(limit)
	for !r.MatchString(v.console.String()) {
		select {
		case <-v.done:
			if r.MatchString(v.console.String()) {
				return time.Since(v.started)
			}
			t.Fatalf("the emulator ended before %q:\n%s", re, v.console)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q on the console after %v:\n%s", re, limit, v.console)
		}
	}
	return time.Since(v.started)
}

func reaches(t *testing.T, lab *netlab.Lab, src netip.Addr) bool {
	t.Helper()
	var ok bool
	var err error
	// The emulated bridge takes a moment to learn addresses: a few tries.
	for range 3 {
		ok, err = netlab.UDPReaches(lab.WAN, lab.PBX, src, netip.AddrPortFrom(netlab.PBX4, 5099), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestQEMUBoot boots the real image of the QEMU board in an emulated arm64
// machine whose two ports sit between the lab's wan and PBX: the box
// formats its data partition, protects, bans a real scanner, and after a
// power cut boots again with the ban still in force.
func TestQEMUBoot(t *testing.T) {
	netlab.RequireRoot(t)
	img, boot := buildImage(t, 1<<30)
	lab := netlab.NewT(t)
	patchTaps(t, lab)

	v := bootVM(t, lab, img, boot)
	took := v.waitFor(t, `msg=protecting`, 3*time.Minute)
	t.Logf("first boot: protecting %.1f s after power-on (emulated)", took.Seconds())
	for _, want := range []string{"starting the root slot", "data partition formatted", "first boot: writing the default configuration"} {
		if !strings.Contains(v.console.String(), want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if !reaches(t, lab, netlab.Carrier4) {
		t.Fatalf("the box does not forward:\n%s", v.console)
	}
	svmap := netlab.RequireTool(t, "svmap")
	if err := lab.RouteFrom(context.Background(), netlab.Attacker4); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = lab.WAN.Command(ctx, svmap, "-p", "5060", netlab.PBX4.String()).CombinedOutput()
	v.waitFor(t, `scanner User-Agent`, 30*time.Second)
	if reaches(t, lab, netlab.Attacker4) {
		t.Fatal("the scanner still reaches the PBX")
	}
	v.waitFor(t, `firmware checked: as signed`, 30*time.Second)
	time.Sleep(2 * time.Second) // the ban reaches the state file within a second
	v.powerCut()

	// Someone adds a file to the boot partition while the box is off.
	d, err := diskfs.Open(img, diskfs.WithOpenMode(diskfs.ReadWrite))
	if err != nil {
		t.Fatal(err)
	}
	fat, err := d.GetFilesystem(1)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fat.OpenFile("/ssh", os.O_CREATE|os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("enable ssh"))
	f.Close()
	d.Close()

	v = bootVM(t, lab, img, boot)
	took = v.waitFor(t, `msg=protecting`, 3*time.Minute)
	t.Logf("second boot: protecting %.1f s after power-on (emulated)", took.Seconds())
	if strings.Contains(v.console.String(), "formatted") || strings.Contains(v.console.String(), "first boot") {
		t.Errorf("the second boot formatted or reset something:\n%s", v.console)
	}
	if reaches(t, lab, netlab.Attacker4) {
		t.Errorf("the ban did not survive the power cut:\n%s", v.console)
	}
	v.waitFor(t, `TAMPER WARNING.*ssh: unexpected file`, 30*time.Second)
	if !reaches(t, lab, netlab.Carrier4) {
		t.Errorf("the box does not forward after the reboot:\n%s", v.console)
	}
}

// TestQEMUUpdateAndRollback updates the emulated box from an update disk:
// the new firmware starts once on trial, reports healthy and is committed;
// then a firmware that never becomes healthy is installed, starts once, and
// the box goes back to the one before.
func TestQEMUUpdateAndRollback(t *testing.T) {
	netlab.RequireRoot(t)
	b := newBuilder(t)
	img, boot, _ := b.build("v1.0.0", b.bin)
	_, _, good := b.build("v1.1.0", b.bin)
	_, _, bad := b.build("v1.2.0", b.goBuild("./testdata/hang", "-s -w"))
	if err := os.Truncate(img, 1<<30); err != nil {
		t.Fatal(err)
	}
	lab := netlab.NewT(t)
	patchTaps(t, lab)

	v := bootVM(t, lab, img, boot)
	v.waitFor(t, `firmware checked: as signed.*version=v1.0.0`, 3*time.Minute)
	v.powerCut()

	// The update disk: installed into slot b, then a reboot.
	v = bootVMWith(t, lab, img, boot, good)
	v.waitFor(t, `update installed: rebooting into it.*version=v1.1.0.*slot=b`, 3*time.Minute)
	v.exited(t, time.Minute)

	v = bootVM(t, lab, img, boot)
	v.waitFor(t, `starting the root slot.*slot=b.*trial=true`, 3*time.Minute)
	v.waitFor(t, `the updated firmware is healthy: committed`, 3*time.Minute)
	v.waitFor(t, `firmware checked: as signed.*version=v1.1.0`, time.Minute)
	if !reaches(t, lab, netlab.Carrier4) {
		t.Errorf("the updated box does not forward:\n%s", v.console)
	}
	v.powerCut()

	// The same disk again: this firmware already runs.
	v = bootVMWith(t, lab, img, boot, good)
	v.waitFor(t, `update disk: this firmware already runs`, 3*time.Minute)
	v.waitFor(t, `msg=protecting`, time.Minute)
	v.powerCut()

	// A firmware that never reports healthy: one start, then back.
	v = bootVMWith(t, lab, img, boot, bad)
	v.waitFor(t, `update installed: rebooting into it.*version=v1.2.0.*slot=a`, 3*time.Minute)
	v.exited(t, time.Minute)
	v = bootVM(t, lab, img, boot)
	v.waitFor(t, `hang: a firmware that never reports healthy`, 3*time.Minute)
	time.Sleep(3 * time.Second)
	v.powerCut() // on the box, the watchdog

	v = bootVM(t, lab, img, boot)
	v.waitFor(t, `never reported healthy: back to the previous one.*failed=a`, 3*time.Minute)
	v.waitFor(t, `starting the root slot.*slot=b.*trial=false`, time.Minute)
	v.waitFor(t, `firmware checked: as signed.*version=v1.1.0`, 3*time.Minute)
	if !reaches(t, lab, netlab.Carrier4) {
		t.Errorf("the box does not forward after the rollback:\n%s", v.console)
	}
}
