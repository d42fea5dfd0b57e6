package netfilter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// TestVLANTaggedFramesCannotBypassBans writes 802.1Q-tagged frames onto the
// wire by hand, since the lab kernel may lack VLAN devices, and checks that a
// tag never hides a banned source: single-tagged frames get the same verdict
// as untagged ones, and frames with stacked tags (QinQ) are dropped.
func TestVLANTaggedFramesCannotBypassBans(t *testing.T) {
	b := newTestBox(t, Defaults())
	if err := b.fw.Ban([]Ban{{Addr: netlab.Attacker4, Timeout: time.Minute}, {Addr: netlab.Attacker6, Timeout: time.Minute}}); err != nil {
		t.Fatalf("Ban: %v", err)
	}
	tx, wanMAC := rawPort(t, b.WAN)
	rx, pbxMAC := rawPort(t, b.PBX)

	var (
		untagged []vlanTag
		tagged   = []vlanTag{{eth8021Q, 100}}
		qinq     = []vlanTag{{eth8021D, 200}, {eth8021Q, 100}}
		doubleQ  = []vlanTag{{eth8021Q, 200}, {eth8021Q, 100}}
	)
	cases := []struct {
		name     string
		tags     []vlanTag
		src, dst netip.Addr
		banned   bool // counts as a dynamic-ban drop
		arrives  bool
	}{
		// The control: raw frames do cross the lab.
		{"untagged IPv4 from the carrier", untagged, netlab.Carrier4, netlab.PBX4, false, true},
		{"untagged IPv4 from the attacker", untagged, netlab.Attacker4, netlab.PBX4, true, false},
		{"tagged IPv4 from the carrier", tagged, netlab.Carrier4, netlab.PBX4, false, true},
		{"tagged IPv4 from the attacker", tagged, netlab.Attacker4, netlab.PBX4, true, false},
		{"tagged IPv6 from the carrier", tagged, netlab.Carrier6, netlab.PBX6, false, true},
		{"tagged IPv6 from the attacker", tagged, netlab.Attacker6, netlab.PBX6, true, false},
		{"QinQ IPv4 from the carrier", qinq, netlab.Carrier4, netlab.PBX4, false, false},
		{"double 802.1Q IPv4 from the carrier", doubleQ, netlab.Carrier4, netlab.PBX4, false, false},
	}

	dynamic0, vlan0 := counter(t, b.fw, CounterDynamic), counter(t, b.fw, CounterVLAN)
	var banned, stacked uint64
	for i, c := range cases {
		marker := []byte(fmt.Sprintf("sipguard vlan test %d: %s", i, c.name))
		etherType, ip := rawUDP(ap(c.src, 40000+uint16(i)), ap(c.dst, 5060), marker)
		frame := rawEthernet(pbxMAC, wanMAC, c.tags, etherType, ip)
		if _, err := tx.WriteTo(frame, &packet.Addr{HardwareAddr: pbxMAC}); err != nil {
			t.Fatalf("%s: send: %v", c.name, err)
		}
		if got := sawMarker(t, rx, marker); got != c.arrives {
			t.Errorf("%s: arrived at the PBX = %v, want %v", c.name, got, c.arrives)
		}
		if c.banned {
			banned++
		}
		if len(c.tags) > 1 {
			stacked++
		}
	}

	if d := counter(t, b.fw, CounterDynamic) - dynamic0; d < banned {
		t.Errorf("counter %q rose by %d, want at least %d", CounterDynamic, d, banned)
	}
	if d := counter(t, b.fw, CounterVLAN) - vlan0; d < stacked {
		t.Errorf("counter %q rose by %d, want at least %d", CounterVLAN, d, stacked)
	}
}

// vlanTag is one 802.1Q or 802.1ad tag: its TPID and its VLAN id
// (priority and DEI bits are left zero).
type vlanTag struct{ tpid, vid uint16 }

// rawPort opens an AF_PACKET raw socket on the host interface of ns, which
// sends and receives whole Ethernet frames, and returns it with the
// interface's MAC address. The socket is closed when the test ends.
func rawPort(t *testing.T, ns *netlab.NS) (*packet.Conn, net.HardwareAddr) {
	t.Helper()
	var (
		c   *packet.Conn
		mac net.HardwareAddr
	)
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(netlab.HostIf)
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr
		c, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err != nil {
		t.Fatalf("raw socket on %s in %s: %v", netlab.HostIf, ns.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, mac
}

// rawEthernet returns an Ethernet frame from src to dst whose payload, of
// type etherType, sits behind the given VLAN tags, outermost first.
func rawEthernet(dst, src net.HardwareAddr, tags []vlanTag, etherType uint16, payload []byte) []byte {
	f := append(append([]byte{}, dst...), src...)
	for _, tag := range tags {
		f = binary.BigEndian.AppendUint16(f, tag.tpid)
		f = binary.BigEndian.AppendUint16(f, tag.vid)
	}
	f = binary.BigEndian.AppendUint16(f, etherType)
	return append(f, payload...)
}

// rawUDP returns an IPv4 or IPv6 packet, by the family of src, that holds one
// UDP datagram with payload from src to dst, and the packet's EtherType.
func rawUDP(src, dst netip.AddrPort, payload []byte) (etherType uint16, pkt []byte) {
	n := 8 + len(payload) // UDP length
	u := binary.BigEndian.AppendUint16(nil, src.Port())
	u = binary.BigEndian.AppendUint16(u, dst.Port())
	u = binary.BigEndian.AppendUint16(u, uint16(n))
	u = append(u, 0, 0) // checksum, filled in below for IPv6
	u = append(u, payload...)
	s, d := src.Addr().AsSlice(), dst.Addr().AsSlice()

	if src.Addr().Is4() {
		// Version 4, IHL 5; total length; id 1; DF; TTL 64; UDP; checksum.
		ip := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, unix.IPPROTO_UDP, 0, 0}
		binary.BigEndian.PutUint16(ip[2:], uint16(20+n))
		ip = append(append(ip, s...), d...)
		binary.BigEndian.PutUint16(ip[10:], inetChecksum(ip))
		return ethIP, append(ip, u...) // a zero UDP checksum means none over IPv4
	}

	// IPv6 makes the UDP checksum mandatory; it covers a pseudo-header of
	// the addresses, the UDP length and the next header.
	pseudo := append(append([]byte{}, s...), d...)
	pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(n))
	pseudo = append(pseudo, 0, 0, 0, unix.IPPROTO_UDP)
	sum := inetChecksum(append(pseudo, u...))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], sum)
	// Version 6, no traffic class or flow label; payload length; UDP; hop limit 64.
	ip := []byte{0x60, 0, 0, 0, 0, 0, unix.IPPROTO_UDP, 64}
	binary.BigEndian.PutUint16(ip[4:], uint16(n))
	ip = append(append(ip, s...), d...)
	return ethIP6, append(ip, u...)
}

// inetChecksum is the Internet checksum (RFC 1071) of b.
func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// sawMarker reads frames from c until one contains marker and reports
// whether that happened within silence. Other traffic (neighbour discovery,
// say) is skipped. The marker is searched anywhere in the frame, since the
// receiving socket may see the frame with its VLAN tag moved into metadata.
func sawMarker(t *testing.T, c *packet.Conn, marker []byte) bool {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(silence)); err != nil {
		t.Fatalf("set read deadline: %v", err)
	}
	buf := make([]byte, 65536)
	for {
		n, _, err := c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		if err != nil {
			t.Fatalf("read frames: %v", err)
		}
		if bytes.Contains(buf[:n], marker) {
			return true
		}
	}
}
