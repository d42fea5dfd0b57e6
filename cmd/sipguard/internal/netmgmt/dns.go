package netmgmt

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
)

// errNoDNS is a name looked up with no name server known.
var errNoDNS = errors.New("no name server: none from DHCP")

// DialDNS connects to the DHCP lease's first name server, whatever address
// the resolver asked for: it is the Dial of a net.Resolver for a box whose
// root file system has no resolv.conf (the resolver then asks localhost,
// where nothing answers). It fails while there is no lease naming one.
func (m *Manager) DialDNS(ctx context.Context, network, _ string) (net.Conn, error) {
	m.mu.Lock()
	var server netip.Addr
	if m.lease != nil && len(m.lease.DNS) > 0 {
		server = m.lease.DNS[0]
	}
	port := m.dnsPort
	m.mu.Unlock()
	if !server.IsValid() {
		return nil, errNoDNS
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort(server.String(), strconv.Itoa(port)))
}
