package board

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// The device tree, as the kernel shows it, relative to the root.
var dtDirs = []string{"sys/firmware/devicetree/base", "proc/device-tree"}

// Detect returns the profile of the board: the one called override if it
// is not empty, or else the one the device tree under root names (root is
// the file system's root, os.DirFS("/") on the box).
func Detect(root fs.FS, override string) (Profile, error) {
	if override != "" {
		return ByName(override)
	}
	model, compatible, err := readDeviceTree(root)
	if err != nil {
		return Profile{}, fmt.Errorf("detect board: %w (set the board by name: %s)", err, strings.Join(Names(), ", "))
	}
	name, ok := FromDeviceTree(model, compatible)
	if !ok {
		return Profile{}, fmt.Errorf("detect board: model %q (compatible %s): %w", model, strings.Join(compatible, ", "), ErrUnknownBoard)
	}
	return ByName(name)
}

// FromDeviceTree returns the profile name for a device tree's model and
// compatible strings, and whether one matched.
func FromDeviceTree(model string, compatible []string) (string, bool) {
	has := func(c string) bool {
		for _, x := range compatible {
			if x == c {
				return true
			}
		}
		return false
	}
	prefix := func(ps ...string) bool {
		for _, p := range ps {
			if strings.HasPrefix(model, p) {
				return true
			}
		}
		return false
	}
	switch {
	case has("brcm,bcm2712") || prefix("Raspberry Pi 5", "Raspberry Pi Compute Module 5", "Raspberry Pi 500"):
		return "rpi5", true
	case has("brcm,bcm2711") || prefix("Raspberry Pi 4", "Raspberry Pi Compute Module 4", "Raspberry Pi 400"):
		return "rpi4", true
	case has("linux,dummy-virt") || model == "linux,dummy-virt":
		return "qemu-virt", true
	}
	return "", false
}

// readDeviceTree reads the model and compatible strings of the device
// tree; either may be missing, not both.
func readDeviceTree(root fs.FS) (model string, compatible []string, err error) {
	for _, dir := range dtDirs {
		m, merr := fs.ReadFile(root, dir+"/model")
		c, cerr := fs.ReadFile(root, dir+"/compatible")
		if merr != nil && cerr != nil {
			if !errors.Is(merr, fs.ErrNotExist) {
				return "", nil, fmt.Errorf("read %s/model: %w", dir, merr)
			}
			continue
		}
		return cString(m), cStrings(c), nil
	}
	return "", nil, fmt.Errorf("no device tree at /%s: %w", dtDirs[0], fs.ErrNotExist)
}

// cString returns a device tree string without its NUL terminator.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimSpace(string(b))
}

// cStrings splits a device tree string list (NUL-separated).
func cStrings(b []byte) []string {
	var out []string
	for _, s := range bytes.Split(b, []byte{0}) {
		if len(s) > 0 {
			out = append(out, string(s))
		}
	}
	return out
}
