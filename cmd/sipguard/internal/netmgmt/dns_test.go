package netmgmt

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/sipguard/sipguard/netfilter"
)

// A resolver dialling through the lease finds names at the lease's name
// server, and fails plainly without one.
func TestDialDNS(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(q)
		if q.Question[0].Qtype == dns.TypeA && q.Question[0].Name == "ntp.example.net." {
			r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(192, 0, 2, 123)})
		}
		_ = w.WriteMsg(r)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	defer srv.Shutdown()

	m := New(Options{Bridge: "br0", DHCP: true})
	m.dnsPort = pc.LocalAddr().(*net.UDPAddr).Port
	res := &net.Resolver{PreferGo: true, Dial: m.DialDNS}
	if _, err := res.LookupHost(t.Context(), "ntp.example.net"); err == nil {
		t.Error("a name resolved without a lease")
	} else if !errors.Is(err, errNoDNS) && !isDNSError(err) {
		t.Errorf("without a lease: %v", err)
	}
	m.SetLease(&netfilter.Lease{DNS: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	got, err := res.LookupHost(t.Context(), "ntp.example.net")
	if err != nil || len(got) != 1 || got[0] != "192.0.2.123" {
		t.Errorf("LookupHost = %v, %v; want 192.0.2.123", got, err)
	}
}

func isDNSError(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de)
}
