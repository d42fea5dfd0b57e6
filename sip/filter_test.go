package sip

import (
	"testing"

	"golang.org/x/net/bpf"

	"github.com/sipguard/sipguard/sip/portrange"
)

func TestFilter(t *testing.T) {
	prog, err := Filter([]portrange.Range{{First: 5060, Last: 5062}, {First: 5080, Last: 5080}}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("REGISTER sip:pbx SIP/2.0\r\n")
	udp4 := func(sport, dport uint16) frameSpec {
		return frameSpec{src: attacker4, dst: pbx4, proto: ProtoUDP, srcPort: sport, dstPort: dport, payload: payload}
	}
	withTag := func(s frameSpec, tpid uint16) frameSpec { s.tags = []uint16{tpid}; return s }
	six := func(s frameSpec) frameSpec { s.src, s.dst = attacker6, pbx6; return s }
	tcp := func(s frameSpec) frameSpec { s.proto = ProtoTCP; return s }
	ipOpts := func(f []byte) []byte { // rewrite an IPv4 header to carry 4 bytes of options
		out := append([]byte{}, f[:14]...)
		ip := append(append([]byte{}, f[14:34]...), 1, 1, 1, 0) // NOP NOP NOP EOL
		ip[0] = 0x46
		return append(append(out, ip...), f[34:]...)
	}
	for _, c := range []struct {
		name  string
		frame []byte
		pass  bool
	}{
		{"request to 5060", udp4(40000, 5060).build(), true},
		{"response from 5060", udp4(5060, 40000).build(), true},
		{"last port of the range", udp4(40000, 5062).build(), true},
		{"past the range", udp4(40000, 5063).build(), false},
		{"single port", udp4(5080, 1).build(), true},
		{"other traffic", udp4(40000, 53).build(), false},
		{"tcp when only udp", tcp(udp4(40000, 5060)).build(), false},
		{"ipv6", six(udp4(40000, 5061)).build(), true},
		{"ipv6 other", six(udp4(40000, 443)).build(), false},
		{"vlan tag", withTag(udp4(40000, 5060), 0x8100).build(), true},
		{"802.1ad tag", withTag(six(udp4(5060, 1)), 0x88a8).build(), true},
		{"vlan other", withTag(udp4(40000, 80), 0x8100).build(), false},
		{"ip options", ipOpts(udp4(40000, 5060).build()), true},
		{"non-initial fragment", func() []byte { s := udp4(1, 2); s.fragOffset = 185; return s.build() }(), true},
		{"ipv6 extension header", func() []byte { s := six(udp4(1, 2)); s.ext6 = []byte{44}; return s.build() }(), true},
		{"icmp", frameSpec{src: attacker4, dst: pbx4, proto: 1}.build(), false},
		{"arp", make([]byte, 42), false},
	} {
		n, err := vm.Run(c.frame)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if (n > 0) != c.pass {
			t.Errorf("%s: filter returned %d, want pass=%v", c.name, n, c.pass)
		}
	}

	both, err := Filter([]portrange.Range{{First: 5060, Last: 5060}}, true, true)
	if err != nil {
		t.Fatal(err)
	}
	vm, _ = bpf.NewVM(both)
	if n, _ := vm.Run(tcp(udp4(40000, 5060)).build()); n == 0 {
		t.Error("TCP SIP dropped with TCP on")
	}
	if _, err := Filter(nil, true, true); err == nil {
		t.Error("Filter accepted no ports")
	}
	if _, err := Filter([]portrange.Range{{First: 5062, Last: 5060}}, true, false); err == nil {
		t.Error("Filter accepted a backwards range")
	}
}
