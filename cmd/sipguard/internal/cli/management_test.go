package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

func TestWriteManagement(t *testing.T) {
	var b bytes.Buffer
	writeManagement(&b, &api.Management{State: "ok", Plausible: true, MDNS: "sipguard.local",
		Addresses: []api.MgmtAddress{{Address: "192.0.2.100/24", Source: "dhcp"}, {Address: "2001:db8:1::5/64", Source: "slaac"}},
		Lease:     &api.Lease{Address: "192.0.2.100/24", Server: "192.0.2.10", Expires: time.Now().Add(time.Hour)},
		NTP:       api.NTP{Synced: true, Server: "192.0.2.10", Offset: "1.2ms", LastSync: time.Now()}})
	for _, want := range []string{"state:       ok", "192.0.2.100/24 (dhcp)", "2001:db8:1::5/64 (slaac)", "DHCP lease:  192.0.2.100/24 from 192.0.2.10",
		"NTP:         synced with 192.0.2.10, offset 1.2ms", "mDNS:        sipguard.local"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	writeManagement(&b, &api.Management{State: "no address", NTP: api.NTP{LastError: "no time server"}})
	for _, want := range []string{"state:       no address", "NTP:         not synced: no time server", "clock:       not set yet", "mDNS:        not answering"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lacks %q:\n%s", want, b.String())
		}
	}
}
