// Package netmgmt puts the box on the office network out of the box: it
// watches the bridge's management addresses (fixed, from DHCP, from the
// routers' advertisements), sets the clock by NTP, and answers mDNS for the
// box's name (sipguard.local) so a browser finds it.
//
// The box protects without any of it: the bridge forwards and the ruleset
// drops from the first second, whether or not a DHCP server answers or a
// time server is reachable. What needs the right time (HTTPS, downloads,
// schedules) waits on the [Clock]: the time is plausible once NTP has
// answered, or when the clock is already past the firmware's build time (a
// board without a real-time clock boots in 1970).
//
// The package keeps no global state: a [Manager] holds it, and reports it
// as a [Status]. The clock is stepped through a [Stepper], which tests
// replace with a fake: nothing here changes the host's clock in a test.
package netmgmt
