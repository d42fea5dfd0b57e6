package board

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func TestFromDeviceTree(t *testing.T) {
	for _, tc := range []struct {
		model      string
		compatible []string
		want       string
	}{
		{"Raspberry Pi 4 Model B Rev 1.4", []string{"raspberrypi,4-model-b", "brcm,bcm2711"}, "rpi4"},
		{"Raspberry Pi 4 Model B Rev 1.1", nil, "rpi4"},
		{"Raspberry Pi Compute Module 4 Rev 1.0", []string{"raspberrypi,4-compute-module", "brcm,bcm2711"}, "rpi4"},
		{"Raspberry Pi 400 Rev 1.0", nil, "rpi4"},
		{"Raspberry Pi 5 Model B Rev 1.0", []string{"raspberrypi,5-model-b", "brcm,bcm2712"}, "rpi5"},
		{"Raspberry Pi Compute Module 5 Rev 1.0", nil, "rpi5"},
		{"", []string{"brcm,bcm2712"}, "rpi5"},
		{"", []string{"linux,dummy-virt"}, "qemu-virt"},
		{"linux,dummy-virt", nil, "qemu-virt"},
		{"Raspberry Pi 3 Model B Plus Rev 1.3", []string{"raspberrypi,3-model-b-plus", "brcm,bcm2837"}, ""},
		{"Pine64 RockPro64", []string{"pine64,rockpro64", "rockchip,rk3399"}, ""},
		{"", nil, ""},
	} {
		got, ok := FromDeviceTree(tc.model, tc.compatible)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("FromDeviceTree(%q, %q) = %q, %t; want %q", tc.model, tc.compatible, got, ok, tc.want)
		}
	}
}

func TestDetect(t *testing.T) {
	pi5 := fstest.MapFS{
		"sys/firmware/devicetree/base/model":      {Data: []byte("Raspberry Pi 5 Model B Rev 1.0\x00")},
		"sys/firmware/devicetree/base/compatible": {Data: []byte("raspberrypi,5-model-b\x00brcm,bcm2712\x00")},
	}
	cm4Proc := fstest.MapFS{ // only /proc/device-tree, only a model
		"proc/device-tree/model": {Data: []byte("Raspberry Pi Compute Module 4 Rev 1.1\x00")},
	}
	qemu := fstest.MapFS{
		"sys/firmware/devicetree/base/compatible": {Data: []byte("linux,dummy-virt\x00")},
	}
	pi3 := fstest.MapFS{
		"proc/device-tree/model": {Data: []byte("Raspberry Pi 3 Model B Rev 1.2\x00")},
	}
	for _, tc := range []struct {
		name     string
		root     fs.FS
		override string
		want     string
		err      error
		msg      string
	}{
		{"pi 5", pi5, "", "rpi5", nil, ""},
		{"cm4 from /proc", cm4Proc, "", "rpi4", nil, ""},
		{"qemu", qemu, "", "qemu-virt", nil, ""},
		{"override wins", pi5, "sim", "sim", nil, ""},
		{"unknown override", pi5, "rpi3", "", ErrUnknownBoard, `board "rpi3": unknown board (known: qemu-virt, rpi4, rpi5, sim)`},
		{"unsupported pi", pi3, "", "", ErrUnknownBoard, `model "Raspberry Pi 3 Model B Rev 1.2"`},
		{"no device tree (a laptop)", fstest.MapFS{}, "", "", fs.ErrNotExist, "set the board by name"},
	} {
		p, err := Detect(tc.root, tc.override)
		if tc.err != nil {
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: Detect = %v; want %v containing %q", tc.name, err, tc.err, tc.msg)
			}
			continue
		}
		if err != nil || p.Name != tc.want {
			t.Errorf("%s: Detect = %q, %v; want %q", tc.name, p.Name, err, tc.want)
		}
	}
}

func TestProfilesComplete(t *testing.T) {
	for _, name := range Names() {
		p, err := ByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Title == "" || p.WAN.What == "" || p.LAN.What == "" || p.LEDs == "" {
			t.Errorf("profile %s is incomplete: %+v", name, p)
		}
		if p.LEDs == WiringRGB && (p.RGB.Red == "" || p.RGB.Green == "" || p.RGB.Blue == "") && name != "sim" {
			t.Errorf("profile %s uses an RGB LED without its lines", name)
		}
	}
	for _, name := range []string{"rpi4", "rpi5"} {
		p, _ := ByName(name)
		if p.Button != "GPIO26" || p.RGB != (RGBLines{"GPIO17", "GPIO27", "GPIO22"}) || p.Watchdog != "/dev/watchdog" {
			t.Errorf("%s: wiring %+v, button %q, watchdog %q; want the documented header wiring", name, p.RGB, p.Button, p.Watchdog)
		}
	}
}
