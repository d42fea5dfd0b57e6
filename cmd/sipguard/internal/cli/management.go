package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// writeManagement prints the box's place on the office network: its
// addresses, its clock and its mDNS name.
func writeManagement(w io.Writer, m *api.Management) {
	if m == nil {
		return
	}
	state := m.State
	if state == "off" {
		state = "off: no address (management.dhcp is false, no management.addresses)"
	}
	rows := [][]string{{"state", state}}
	for _, a := range m.Addresses {
		rows = append(rows, []string{"address", a.Address + " (" + a.Source + ")"})
	}
	if len(m.Gateways) > 0 {
		rows = append(rows, []string{"gateway", strings.Join(m.Gateways, ", ")})
	}
	if l := m.Lease; l != nil {
		lease := l.Address + " from " + l.Server + ", until " + l.Expires.Local().Format(time.DateTime)
		rows = append(rows, []string{"DHCP lease", lease})
	}
	ntp := "not synced"
	switch n := m.NTP; {
	case n.Synced:
		ntp = fmt.Sprintf("synced with %s, offset %s, at %s", n.Server, n.Offset, n.LastSync.Local().Format(time.DateTime))
		if n.Stepped {
			ntp += ", clock stepped"
		}
	case n.LastError != "":
		ntp = "not synced: " + n.LastError
	}
	rows = append(rows, []string{"NTP", ntp})
	if !m.Plausible {
		rows = append(rows, []string{"clock", "not set yet: downloads and schedules wait for NTP"})
	}
	mdns := m.MDNS
	if mdns == "" {
		mdns = "not answering (no address)"
	}
	rows = append(rows, []string{"mDNS", mdns})
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "%-12s %s\n", r[0]+":", r[1])
	}
}
