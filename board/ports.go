package board

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// NIC is a network interface as sysfs shows it.
type NIC struct {
	Name   string // interface name: "eth0"
	Driver string // kernel driver: "bcmgenet", "r8152" ("" if virtual)
	Bus    string // subsystem of its device: "platform", "usb", "pci" ("" if virtual)
	Device string // its device's path under the root, which orders the NICs ("" if virtual)
}

// String describes the NIC for messages: "eth1 (r8152 on usb)".
func (n NIC) String() string {
	if n.Device == "" {
		return n.Name + " (virtual)"
	}
	return fmt.Sprintf("%s (%s on %s)", n.Name, n.Driver, n.Bus)
}

// Ports are the box's two Ethernet ports.
type Ports struct {
	WAN, LAN NIC
}

// ErrPortMissing reports that no interface matches a port. A USB adapter
// can appear seconds after boot: callers may retry on it.
var ErrPortMissing = errors.New("port missing")

// NICs lists the network interfaces under root's sys/class/net, sorted by
// device path (virtual ones, without a device, last by name). Root must
// be able to read symbolic links, as os.DirFS can.
func NICs(root fs.FS) ([]NIC, error) {
	const dir = "sys/class/net"
	entries, err := fs.ReadDir(root, dir)
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	var nics []NIC
	for _, e := range entries {
		n, err := readNIC(root, dir, e.Name())
		if err != nil {
			return nil, fmt.Errorf("network interface %s: %w", e.Name(), err)
		}
		nics = append(nics, n)
	}
	slices.SortFunc(nics, func(a, b NIC) int {
		if (a.Device == "") != (b.Device == "") {
			if a.Device == "" {
				return 1
			}
			return -1
		}
		if c := strings.Compare(a.Device, b.Device); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return nics, nil
}

// readNIC reads one interface: its class entry is a link to the device's
// net directory, whose "device" link points at the device, whose "driver"
// and "subsystem" links name the driver and the bus.
func readNIC(root fs.FS, dir, name string) (NIC, error) {
	n := NIC{Name: name}
	at := path.Join(dir, name)
	if target, err := fs.ReadLink(root, at); err == nil {
		at = path.Join(dir, target)
	}
	dev, err := fs.ReadLink(root, at+"/device")
	if errors.Is(err, fs.ErrNotExist) {
		return n, nil // virtual: lo, bridges, veths
	}
	if err != nil {
		return n, err
	}
	n.Device = path.Join(at, dev)
	for _, l := range []struct {
		link string
		to   *string
	}{{"driver", &n.Driver}, {"subsystem", &n.Bus}} {
		target, err := fs.ReadLink(root, n.Device+"/"+l.link)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
		if target != "" {
			*l.to = path.Base(target)
		}
	}
	return n, nil
}

// matches reports whether NIC n can be port p.
func (p Port) matches(n NIC) bool {
	if p.Name != "" {
		return n.Name == p.Name
	}
	if n.Device == "" {
		return false
	}
	return (len(p.Drivers) == 0 || slices.Contains(p.Drivers, n.Driver)) &&
		(len(p.Buses) == 0 || slices.Contains(p.Buses, n.Bus))
}

// MatchPorts picks the wan and then the lan port among nics (in order):
// the first NIC each port's rule accepts, the lan never the wan's.
func MatchPorts(nics []NIC, wan, lan Port) (Ports, error) {
	var ps Ports
	var wanFound, lanFound bool
	for _, n := range nics {
		if wan.matches(n) {
			ps.WAN, wanFound = n, true
			break
		}
	}
	for _, n := range nics {
		if lan.matches(n) && (!wanFound || n.Name != ps.WAN.Name) {
			ps.LAN, lanFound = n, true
			break
		}
	}
	var errs []error
	if !wanFound {
		errs = append(errs, missing("wan", wan, nics))
	}
	if !lanFound {
		errs = append(errs, missing("lan", lan, nics))
	}
	return ps, errors.Join(errs...)
}

func missing(role string, p Port, nics []NIC) error {
	msg := fmt.Sprintf("no %s found for %s", p.What, role)
	if p.Hint != "" {
		msg += ": " + p.Hint
	}
	seen := make([]string, len(nics))
	for i, n := range nics {
		seen[i] = n.String()
	}
	if len(seen) == 0 {
		seen = []string{"none"}
	}
	return fmt.Errorf("%s (%w; interfaces: %s)", msg, ErrPortMissing, strings.Join(seen, ", "))
}

// Ports finds the profile's wan and lan interfaces under root.
func (p Profile) Ports(root fs.FS) (Ports, error) {
	nics, err := NICs(root)
	if err != nil {
		return Ports{}, fmt.Errorf("board %s: %w", p.Name, err)
	}
	ps, err := MatchPorts(nics, p.WAN, p.LAN)
	if err != nil {
		return ps, fmt.Errorf("board %s: %w", p.Name, err)
	}
	return ps, nil
}
