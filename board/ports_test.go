package board

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nic describes an interface of a fake sysfs tree: its device directory
// under sys/devices ("" for a virtual interface), driver and bus.
type nic struct {
	name, device, driver, bus string
}

// fakeSys builds a sysfs tree the way the kernel lays it out: the class
// entry links to the device's net directory, whose device link points up
// to the device, whose driver and subsystem links name the driver and bus.
func fakeSys(t *testing.T, nics ...nic) string {
	t.Helper()
	root := t.TempDir()
	class := filepath.Join(root, "sys/class/net")
	must(t, os.MkdirAll(class, 0o755))
	for _, n := range nics {
		dev := "sys/devices/virtual"
		if n.device != "" {
			dev = "sys/devices/" + n.device
		}
		netDir := filepath.Join(root, dev, "net", n.name)
		must(t, os.MkdirAll(netDir, 0o755))
		rel, err := filepath.Rel(class, netDir)
		must(t, err)
		must(t, os.Symlink(rel, filepath.Join(class, n.name)))
		if n.device == "" {
			continue
		}
		devDir := filepath.Join(root, dev)
		must(t, os.Symlink("../../../"+filepath.Base(devDir), filepath.Join(netDir, "device")))
		must(t, os.Symlink("../../../../bus/"+n.bus+"/drivers/"+n.driver, filepath.Join(devDir, "driver")))
		must(t, os.Symlink("../../../../bus/"+n.bus, filepath.Join(devDir, "subsystem")))
	}
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var (
	lo      = nic{name: "lo"}
	br0     = nic{name: "br0"}
	pi4eth  = nic{"eth0", "platform/scb/fd580000.ethernet", "bcmgenet", "platform"}
	pi5eth  = nic{"eth0", "platform/axi/1000120000.pcie/1f00100000.ethernet", "macb", "platform"}
	usbA    = nic{"eth1", "platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/usb2/2-1/2-1:1.0", "r8152", "usb"}
	usbB    = nic{"eth2", "platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/usb2/2-2/2-2:1.0", "ax88179_178a", "usb"}
	cm4pcie = nic{"eth1", "platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0", "r8169", "pci"}
	// QEMU enumerates virtio NICs in the order of their bus addresses;
	// the kernel may name them in any order.
	virtioB = nic{"eth0", "platform/a003e00.virtio_mmio/virtio1", "virtio_net", "virtio"}
	virtioA = nic{"eth1", "platform/a003c00.virtio_mmio/virtio0", "virtio_net", "virtio"}
)

func TestPorts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		board    string
		nics     []nic
		wan, lan string
		err      string
	}{
		{"pi 4 with a USB adapter", "rpi4", []nic{lo, usbA, pi4eth, br0}, "eth0", "eth1", ""},
		// The adapter was enumerated first and took eth0: still lan.
		{"pi 4, adapter named eth0", "rpi4", []nic{lo, {"eth0", usbA.device, "lan78xx", "usb"}, {"eth1", pi4eth.device, "bcmgenet", "platform"}}, "eth1", "eth0", ""},
		{"pi 4, two adapters: the first on the bus", "rpi4", []nic{usbB, pi4eth, usbA}, "eth0", "eth1", ""},
		{"cm4 carrier with a second NIC on PCIe", "rpi4", []nic{pi4eth, cm4pcie}, "eth0", "eth1", ""},
		{"pi 5", "rpi5", []nic{pi5eth, usbA}, "eth0", "eth1", ""},
		{"qemu: by bus address, not by name", "qemu-virt", []nic{virtioB, virtioA}, "eth1", "eth0", ""},
		{"sim: by name", "sim", []nic{lo, {name: "lan"}, {name: "wan"}, br0}, "wan", "lan", ""},
		{"pi 4 without an adapter", "rpi4", []nic{lo, pi4eth},
			"", "", "board rpi4: no USB Ethernet adapter found for lan: plug one in (port missing; interfaces: eth0 (bcmgenet on platform), lo (virtual))"},
		{"pi 5 image on a pi 4", "rpi5", []nic{pi4eth, usbA}, "", "",
			"board rpi5: no onboard Ethernet (macb, on RP1) found for wan: is the kernel's macb driver loaded?"},
		{"qemu with one NIC", "qemu-virt", []nic{virtioA}, "", "", "no second virtio NIC found for lan"},
		{"no interfaces at all", "rpi4", nil, "", "", "found for wan: is the kernel's bcmgenet driver loaded? (port missing; interfaces: none)\nno USB Ethernet adapter found for lan"},
	} {
		p, err := ByName(tc.board)
		must(t, err)
		got, err := p.Ports(os.DirFS(fakeSys(t, tc.nics...)))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrPortMissing) {
				t.Errorf("%s: Ports = %+v, %v; want an error containing %q", tc.name, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.WAN.Name != tc.wan || got.LAN.Name != tc.lan {
			t.Errorf("%s: wan %q lan %q, %v; want wan %q lan %q", tc.name, got.WAN.Name, got.LAN.Name, err, tc.wan, tc.lan)
		}
	}
}

func TestNICsReadsDriverAndBus(t *testing.T) {
	nics, err := NICs(os.DirFS(fakeSys(t, br0, usbA, pi4eth)))
	must(t, err)
	var got []string
	for _, n := range nics {
		got = append(got, n.String())
	}
	// Sorted by device path: the PCIe root (fd500000) with the USB
	// controller comes before the Ethernet (fd580000); virtual last.
	want := "eth1 (r8152 on usb), eth0 (bcmgenet on platform), br0 (virtual)"
	if strings.Join(got, ", ") != want {
		t.Errorf("NICs = %s; want %s", strings.Join(got, ", "), want)
	}
	if nics[0].Device != "sys/devices/"+usbA.device {
		t.Errorf("device path %q, want %q", nics[0].Device, "sys/devices/"+usbA.device)
	}
}

func TestNICsWithoutSysfs(t *testing.T) {
	_, err := NICs(os.DirFS(t.TempDir()))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NICs on an empty root = %v, want not exist", err)
	}
}
