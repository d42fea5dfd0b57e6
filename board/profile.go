package board

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Wiring names a set of LEDs a board can show its state on.
type Wiring string

// The LED sets.
const (
	// WiringOnboard is the board's own LEDs under /sys/class/leds: the
	// green ACT and, where the kernel lets it be driven, the red PWR.
	WiringOnboard Wiring = "onboard"
	// WiringRGB is an external RGB LED on the profile's RGB lines.
	WiringRGB Wiring = "rgb"
	// WiringBiColour is an external red/green LED on the profile's red
	// and green lines.
	WiringBiColour Wiring = "bicolour"
	// WiringNone drives no LED (the state is still kept for the API).
	WiringNone Wiring = "none"
)

// Wirings lists the LED sets.
func Wirings() []Wiring { return []Wiring{WiringOnboard, WiringRGB, WiringBiColour, WiringNone} }

// Port says how to recognise one of the box's two Ethernet ports.
type Port struct {
	What    string   // what the port is, for messages: "USB Ethernet adapter"
	Hint    string   // what to do when it is missing: "plug one in"
	Name    string   // an exact interface name; when set, nothing else is checked
	Drivers []string // kernel drivers that may back it (any, if empty)
	Buses   []string // device subsystems it may sit on: "usb", "pci", "platform", "virtio"
}

// RGBLines names the GPIO lines of an external LED, as the gpiochip
// names them ("GPIO17").
type RGBLines struct {
	Red, Green, Blue string
}

// OnboardLEDs lists the names an on-board LED may have under
// /sys/class/leds, which differ by board and kernel; the first present
// wins.
type OnboardLEDs struct {
	Green, Red []string
}

// Profile describes a board: where the box finds its ports, LEDs, button
// and watchdog.
type Profile struct {
	Name     string      // short name, as in the configuration: "rpi4"
	Title    string      // for people: "Raspberry Pi 4 / CM4"
	WAN, LAN Port        // the modem side and the PBX side
	LEDs     Wiring      // the LED set used unless the configuration names another
	RGB      RGBLines    // lines of an external RGB or bi-colour LED
	Button   string      // line of the front button ("" if none)
	Onboard  OnboardLEDs // names of the board's own LEDs
	Watchdog string      // watchdog device ("" if none)
}

// DefaultWatchdog is the watchdog device of every supported board.
const DefaultWatchdog = "/dev/watchdog"

// The default header wiring (see the package doc).
var headerWiring = RGBLines{Red: "GPIO17", Green: "GPIO27", Blue: "GPIO22"}

const headerButton = "GPIO26"

// usbOrPCI is the lan port of the Pi boards: a USB adapter, or on a CM4
// carrier the second NIC on PCIe.
var usbOrPCI = Port{What: "USB Ethernet adapter", Hint: "plug one in", Buses: []string{"usb", "pci"}}

// piLEDs are the names the Pi's ACT and PWR LEDs have had: the Raspberry
// Pi kernels' labels, their older ones, and mainline's function:colour.
var piLEDs = OnboardLEDs{
	Green: []string{"ACT", "led0", "green:status", "green:act", "mmc0::"},
	Red:   []string{"PWR", "led1", "red:power", "red:pwr"},
}

// profiles returns the supported boards. By default the onboard port
// faces the modem (wan) and the USB adapter faces the PBX (lan).
func profiles() []Profile {
	return []Profile{
		{
			Name: "rpi4", Title: "Raspberry Pi 4 / CM4",
			WAN:  Port{What: "onboard Ethernet (bcmgenet)", Hint: "is the kernel's bcmgenet driver loaded?", Drivers: []string{"bcmgenet"}},
			LAN:  usbOrPCI,
			LEDs: WiringOnboard, RGB: headerWiring, Button: headerButton, Onboard: piLEDs,
			Watchdog: DefaultWatchdog,
		},
		{
			Name: "rpi5", Title: "Raspberry Pi 5 / CM5",
			WAN:  Port{What: "onboard Ethernet (macb, on RP1)", Hint: "is the kernel's macb driver loaded?", Drivers: []string{"macb"}},
			LAN:  usbOrPCI,
			LEDs: WiringOnboard, RGB: headerWiring, Button: headerButton, Onboard: piLEDs,
			Watchdog: DefaultWatchdog,
		},
		{
			Name: "qemu-virt", Title: "QEMU virt (arm64)",
			// Two virtio NICs: the one first on the bus is wan.
			WAN:  Port{What: "first virtio NIC", Hint: "start QEMU with two virtio-net devices", Drivers: []string{"virtio_net"}},
			LAN:  Port{What: "second virtio NIC", Hint: "start QEMU with two virtio-net devices", Drivers: []string{"virtio_net"}},
			LEDs: WiringNone, Watchdog: DefaultWatchdog,
		},
		{
			Name: "sim", Title: "simulated board",
			WAN:  Port{What: "interface wan", Name: "wan"},
			LAN:  Port{What: "interface lan", Name: "lan"},
			LEDs: WiringRGB,
		},
	}
}

// ErrUnknownBoard reports a board name or device tree no profile matches.
var ErrUnknownBoard = errors.New("unknown board")

// Names returns the names of the supported boards, sorted.
func Names() []string {
	var names []string
	for _, p := range profiles() {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

// ByName returns the profile called name, such as "rpi5".
func ByName(name string) (Profile, error) {
	for _, p := range profiles() {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("board %q: %w (known: %s)", name, ErrUnknownBoard, strings.Join(Names(), ", "))
}
