package api

import "time"

// Management is the box's place on the office network: its management
// addresses, its clock and its mDNS name.
type Management struct {
	// State is "ok", "no address" (the box should have an address and
	// has none: no DHCP server answered yet) or "off" (management is off:
	// the box is invisible).
	State string `json:"state"`
	// Addresses are the management addresses in force.
	Addresses []MgmtAddress `json:"addresses,omitempty"`
	// Gateways are the default routes of the box's own traffic.
	Gateways []string `json:"gateways,omitempty"`
	// Lease is the DHCP lease in force.
	Lease *Lease `json:"lease,omitempty"`
	// NTP is the clock's synchronization; Plausible whether the time can
	// be trusted yet (downloads and schedules wait for it).
	NTP       NTP  `json:"ntp"`
	Plausible bool `json:"plausible"`
	// MDNS is the name the box answers mDNS for, such as "sipguard.local";
	// empty while it answers for none.
	MDNS string `json:"mdns,omitempty"`
}

// MgmtAddress is one management address and where it came from: "fixed"
// (the configuration), "dhcp" or "slaac".
type MgmtAddress struct {
	Address string `json:"address"` // with its prefix length, like 192.0.2.100/24
	Source  string `json:"source"`
}

// Lease is a DHCP lease.
type Lease struct {
	Address string    `json:"address"`
	Router  string    `json:"router,omitempty"`
	Server  string    `json:"server,omitempty"`
	NTP     []string  `json:"ntp,omitempty"` // time servers it names
	DNS     []string  `json:"dns,omitempty"`
	Expires time.Time `json:"expires"`
}

// NTP is the state of the clock's synchronization.
type NTP struct {
	Synced bool `json:"synced"`
	// Server and Offset are of the last sync: the offset the clock had
	// from the server, as a duration like "1.2ms"; Stepped whether that
	// sync set the clock.
	Server  string `json:"server,omitempty"`
	Offset  string `json:"offset,omitempty"`
	Stepped bool   `json:"stepped,omitempty"`
	// LastSync is when the last sync succeeded; LastError why the last
	// attempt failed, empty once one succeeds.
	LastSync  time.Time `json:"last_sync,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}
