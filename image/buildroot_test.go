package image_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sipguard/sipguard/image"
)

// The Buildroot external tree (buildroot/) builds the same card as make
// image from source. Buildroot itself is not available offline; these
// tests check what can be checked without it.

const brTree = "../buildroot"

func brRead(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(brTree, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBuildrootScripts(t *testing.T) {
	var scripts []string
	err := filepath.WalkDir(brTree, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".sh") {
			scripts = append(scripts, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) < 2 {
		t.Fatalf("want the post-build and post-image scripts, found %v", scripts)
	}
	shellcheck, _ := exec.LookPath("shellcheck")
	for _, s := range scripts {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
		if st, err := os.Stat(s); err == nil && st.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable (Buildroot runs it directly)", s)
		}
		if shellcheck != "" {
			if out, err := exec.Command(shellcheck, s).CombinedOutput(); err != nil {
				t.Errorf("shellcheck %s: %v\n%s", s, err, out)
			}
		}
	}
	if shellcheck == "" {
		t.Log("shellcheck is not installed: bash -n only")
	}
}

func TestBuildrootExternalTree(t *testing.T) {
	if !regexp.MustCompile(`(?m)^name: SIPGUARD$`).MatchString(brRead(t, "external.desc")) {
		t.Error("external.desc does not name the tree SIPGUARD (BR2_EXTERNAL_SIPGUARD_PATH)")
	}
	cfg := brRead(t, "Config.in")
	if !strings.Contains(cfg, `source "$BR2_EXTERNAL_SIPGUARD_PATH/package/sipguard/Config.in"`) {
		t.Error("Config.in does not source package/sipguard/Config.in")
	}
	mk := brRead(t, "external.mk")
	if !strings.Contains(mk, "$(BR2_EXTERNAL_SIPGUARD_PATH)/package/*/*.mk") {
		t.Error("external.mk does not include the packages' .mk files")
	}
	if !strings.Contains(brRead(t, "package/sipguard/Config.in"), "config BR2_PACKAGE_SIPGUARD\n") {
		t.Error("package/sipguard/Config.in does not define BR2_PACKAGE_SIPGUARD")
	}
	pkg := brRead(t, "package/sipguard/sipguard.mk")
	for _, want := range []string{
		"$(eval $(golang-package))",
		"SIPGUARD_SITE = $(BR2_EXTERNAL_SIPGUARD_PATH)/..",
		"SIPGUARD_SITE_METHOD = local",
		"SIPGUARD_GOMOD = github.com/sipguard/sipguard",
		"SIPGUARD_BUILD_TARGETS = cmd/sipguard",
		"SIPGUARD_GO_ENV = CGO_ENABLED=0",
		"-X main.version=",
		"$(TARGET_DIR)/sbin/init",
	} {
		if !strings.Contains(pkg, want) {
			t.Errorf("sipguard.mk lacks %q", want)
		}
	}
	// The package creates the root's mount points, as make image does.
	m := regexp.MustCompile(`(?m)^SIPGUARD_DIRS = (.*)$`).FindStringSubmatch(pkg)
	if m == nil {
		t.Fatal("sipguard.mk has no SIPGUARD_DIRS")
	}
	var want []string
	for _, d := range image.Dirs {
		if d != "newroot" && d != "sbin" {
			want = append(want, d)
		}
	}
	got := strings.Fields(m[1])
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("SIPGUARD_DIRS = %v, want image.Dirs without newroot and sbin: %v", got, want)
	}
}

// defconfig reads a Buildroot defconfig: the options set, and those
// explicitly unset.
func defconfig(t *testing.T, rel string) (set map[string]string, unset []string) {
	t.Helper()
	set = map[string]string{}
	unsetRe := regexp.MustCompile(`^# (BR2_\w+) is not set$`)
	sc := bufio.NewScanner(strings.NewReader(brRead(t, rel)))
	for sc.Scan() {
		line := sc.Text()
		if m := unsetRe.FindStringSubmatch(line); m != nil {
			unset = append(unset, m[1])
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, "BR2_") {
			t.Errorf("%s: not an option: %q", rel, line)
			continue
		}
		set[k] = strings.Trim(v, `"`)
	}
	return set, unset
}

// brOptions are the Buildroot options the defconfig may use, spelled as
// Buildroot 2025.02 (LTS) spells them. A new option goes here once checked
// against that release's Config.in files (make savedefconfig keeps it).
var brOptions = []string{
	"BR2_aarch64", "BR2_cortex_a72",
	"BR2_TOOLCHAIN_BUILDROOT_MUSL", "BR2_PACKAGE_HOST_LINUX_HEADERS_CUSTOM_6_6",
	"BR2_TARGET_GENERIC_HOSTNAME", "BR2_TARGET_GENERIC_ISSUE",
	"BR2_INIT_NONE", "BR2_SYSTEM_BIN_SH_NONE", "BR2_PACKAGE_BUSYBOX",
	"BR2_ROOTFS_POST_BUILD_SCRIPT", "BR2_ROOTFS_POST_IMAGE_SCRIPT",
	"BR2_LINUX_KERNEL", "BR2_LINUX_KERNEL_CUSTOM_TARBALL", "BR2_LINUX_KERNEL_CUSTOM_TARBALL_LOCATION",
	"BR2_LINUX_KERNEL_DEFCONFIG", "BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES",
	"BR2_LINUX_KERNEL_DTS_SUPPORT", "BR2_LINUX_KERNEL_INTREE_DTS_NAME", "BR2_LINUX_KERNEL_NEEDS_HOST_OPENSSL",
	"BR2_PACKAGE_RPI_FIRMWARE", "BR2_PACKAGE_RPI_FIRMWARE_VARIANT_PI4",
	"BR2_PACKAGE_RPI_FIRMWARE_CONFIG_FILE", "BR2_PACKAGE_RPI_FIRMWARE_CMDLINE_FILE",
	"BR2_TARGET_ROOTFS_SQUASHFS", "BR2_TARGET_ROOTFS_SQUASHFS4_XZ", "BR2_TARGET_ROOTFS_TAR",
	"BR2_PACKAGE_HOST_DOSFSTOOLS", "BR2_PACKAGE_HOST_GENIMAGE", "BR2_PACKAGE_HOST_MTOOLS",
	"BR2_PACKAGE_SIPGUARD",
}

func TestBuildrootDefconfig(t *testing.T) {
	set, unset := defconfig(t, "configs/sipguard_rpi4_64_defconfig")
	for k := range set {
		if !slices.Contains(brOptions, k) {
			t.Errorf("defconfig sets %s: not a Buildroot 2025.02 option this tree knows (check it, then add it to brOptions)", k)
		}
	}
	for _, k := range unset {
		if !slices.Contains(brOptions, k) {
			t.Errorf("defconfig unsets %s: not a Buildroot 2025.02 option this tree knows", k)
		}
	}
	for k, v := range map[string]string{
		"BR2_aarch64": "y", "BR2_cortex_a72": "y", "BR2_INIT_NONE": "y", "BR2_SYSTEM_BIN_SH_NONE": "y",
		"BR2_LINUX_KERNEL": "y", "BR2_LINUX_KERNEL_DEFCONFIG": "bcm2711",
		"BR2_PACKAGE_RPI_FIRMWARE": "y", "BR2_PACKAGE_RPI_FIRMWARE_VARIANT_PI4": "y",
		"BR2_TARGET_ROOTFS_SQUASHFS": "y", "BR2_PACKAGE_HOST_GENIMAGE": "y", "BR2_PACKAGE_HOST_DOSFSTOOLS": "y",
		"BR2_PACKAGE_HOST_MTOOLS": "y", "BR2_PACKAGE_SIPGUARD": "y",
	} {
		if set[k] != v {
			t.Errorf("defconfig: %s=%q, want %q", k, set[k], v)
		}
	}
	if !slices.Contains(unset, "BR2_PACKAGE_BUSYBOX") {
		t.Error("defconfig does not unset BR2_PACKAGE_BUSYBOX: the box has no userland but sipguard")
	}
	// The board files it names exist in the tree.
	for _, k := range []string{"BR2_ROOTFS_POST_BUILD_SCRIPT", "BR2_ROOTFS_POST_IMAGE_SCRIPT",
		"BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES", "BR2_PACKAGE_RPI_FIRMWARE_CONFIG_FILE", "BR2_PACKAGE_RPI_FIRMWARE_CMDLINE_FILE"} {
		rel, ok := strings.CutPrefix(set[k], "$(BR2_EXTERNAL_SIPGUARD_PATH)/")
		if !ok {
			t.Errorf("defconfig: %s=%q, want a path under $(BR2_EXTERNAL_SIPGUARD_PATH)", k, set[k])
			continue
		}
		if _, err := os.Stat(filepath.Join(brTree, rel)); err != nil {
			t.Errorf("defconfig: %s: %v", k, err)
		}
	}
	// The device trees are those make image puts on the card.
	for _, dtb := range []string{"bcm2711-rpi-4-b", "bcm2711-rpi-400", "bcm2711-rpi-cm4-io"} {
		if !slices.Contains(strings.Fields(set["BR2_LINUX_KERNEL_INTREE_DTS_NAME"]), "broadcom/"+dtb) {
			t.Errorf("defconfig builds no %s device tree", dtb)
		}
	}
}

func TestBuildrootGenimageLayout(t *testing.T) {
	post := brRead(t, "board/rpi4/post-image.sh")
	if !strings.Contains(post, `layout="$here/../../../image/genimage.cfg"`) {
		t.Error("post-image.sh does not run genimage with image/genimage.cfg")
	}
	if !strings.Contains(post, `--config "$layout"`) {
		t.Error("post-image.sh does not pass the layout to genimage")
	}
	// One layout: no other genimage configuration in the tree.
	err := filepath.WalkDir(brTree, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(filepath.Base(p), "genimage") {
			t.Errorf("%s: the card's layout is image/genimage.cfg, not a copy", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(brTree, "board/rpi4", "../../../image/genimage.cfg")); err != nil {
		t.Error(err)
	}
}

// The boot files: make image's, except that the Buildroot kernel mounts
// the root slot itself, so there is no initramfs.
func TestBuildrootBootFiles(t *testing.T) {
	var want []string
	for line := range strings.Lines(image.ConfigTxt) {
		if !strings.HasPrefix(line, "initramfs ") {
			want = append(want, line)
		}
	}
	if got := brRead(t, "board/rpi4/config.txt"); got != strings.Join(want, "") {
		t.Errorf("buildroot/board/rpi4/config.txt differs from image.ConfigTxt without its initramfs line:\n%s\nwant:\n%s", got, strings.Join(want, ""))
	}

	// cmdline.txt: image.Cmdline("rpi4") plus what the kernel needs to
	// mount root slot A without an initramfs.
	direct := []string{"root=PARTUUID=" + image.DiskSignature + "-02", "rootfstype=squashfs", "ro", "rootwait"}
	got := strings.TrimSuffix(brRead(t, "board/rpi4/cmdline.txt"), "\n")
	if strings.Contains(got, "\n") {
		t.Fatal("cmdline.txt must be one line")
	}
	var rest []string
	fields := strings.Fields(got)
	for _, f := range fields {
		if !slices.Contains(direct, f) {
			rest = append(rest, f)
		}
	}
	for _, d := range direct {
		if !slices.Contains(fields, d) {
			t.Errorf("cmdline.txt lacks %s", d)
		}
	}
	if strings.Join(rest, " ") != image.Cmdline("rpi4") {
		t.Errorf("cmdline.txt without %v is\n%s\nwant image.Cmdline(\"rpi4\"):\n%s", direct, strings.Join(rest, " "), image.Cmdline("rpi4"))
	}
}

// piOnly are symbols of the Raspberry Pi kernel tree that Debian's kernel
// does not know; only they may be absent from Debian's configuration.
// Every entry says why it is needed.
var piOnly = []string{
	// (none: everything the box needs is in the mainline kernel)
}

func TestBuildrootKernelFragment(t *testing.T) {
	frag := brRead(t, "board/rpi4/linux.fragment")
	setRe := regexp.MustCompile(`^(CONFIG_\w+)=(.*)$`)
	unsetRe := regexp.MustCompile(`^# (CONFIG_\w+) is not set$`)
	var symbols []string
	builtin := map[string]bool{}
	for line := range strings.Lines(frag) {
		line = strings.TrimSpace(line)
		if m := setRe.FindStringSubmatch(line); m != nil {
			symbols = append(symbols, m[1])
			if m[2] == "m" {
				t.Errorf("linux.fragment: %s=m: the box loads no modules, build it in", m[1])
			}
			builtin[m[1]] = m[2] == "y"
		} else if m := unsetRe.FindStringSubmatch(line); m != nil {
			symbols = append(symbols, m[1])
		} else if line != "" && !strings.HasPrefix(line, "#") {
			t.Errorf("linux.fragment: not a kernel option: %q", line)
		}
	}
	// What the box needs, built in (board.KernelModules() by their
	// configuration symbols).
	for _, s := range []string{"CONFIG_BRIDGE", "CONFIG_NF_TABLES", "CONFIG_NF_TABLES_BRIDGE", "CONFIG_NFT_BRIDGE_META",
		"CONFIG_NFT_LIMIT", "CONFIG_NFT_OBJREF", "CONFIG_PACKET", "CONFIG_GPIO_CDEV", "CONFIG_BCM2835_WDT",
		"CONFIG_EXT4_FS", "CONFIG_VFAT_FS", "CONFIG_SQUASHFS", "CONFIG_MMC_SDHCI_IPROC", "CONFIG_BCMGENET",
		"CONFIG_BROADCOM_PHY", "CONFIG_MDIO_BCM_UNIMAC", "CONFIG_RESET_RASPBERRYPI", "CONFIG_USB_XHCI_PCI",
		"CONFIG_PCIE_BRCMSTB", "CONFIG_USB_RTL8152", "CONFIG_USB_NET_AX88179_178A", "CONFIG_USB_LAN78XX",
		"CONFIG_DEVTMPFS_MOUNT"} {
		if !builtin[s] {
			t.Errorf("linux.fragment does not build in %s", s)
		}
	}

	dir := debs(t)
	release, err := image.KernelRelease(filepath.Join(dir, "kernel"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "kernel", "boot", "config-"+release)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if m := setRe.FindStringSubmatch(line); m != nil {
			known[m[1]] = true
		} else if m := unsetRe.FindStringSubmatch(line); m != nil {
			known[m[1]] = true
		}
	}
	for _, s := range symbols {
		if !known[s] && !slices.Contains(piOnly, s) {
			t.Errorf("linux.fragment: %s is not in Debian's %s (misspelt, gone from the kernel, or Pi-only: then list it in piOnly)", s, filepath.Base(cfgPath))
		}
	}
	for _, s := range piOnly {
		if known[s] {
			t.Errorf("piOnly: %s is in Debian's kernel too: take it off the list", s)
		}
		if !slices.Contains(symbols, s) {
			t.Errorf("piOnly: %s is not in linux.fragment: take it off the list", s)
		}
	}
}
