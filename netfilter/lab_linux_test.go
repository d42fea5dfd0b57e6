package netfilter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// silence is how long a test waits before it concludes that a packet was
// dropped. Packets that pass cross the lab in well under a millisecond.
const silence = 300 * time.Millisecond

// testBox is a lab whose box namespace runs the bridge and a Firewall.
type testBox struct {
	*netlab.Lab
	fw *Firewall
}

// newTestBox builds a lab, bridges the box's ports and applies r.
func newTestBox(t *testing.T, r Ruleset) *testBox {
	t.Helper()
	lab := netlab.NewT(t)
	if err := SetupBridge(BridgeConfig{Name: "br0", WAN: netlab.WANPort, LAN: netlab.LANPort}, WithNetNS(lab.Box.Fd())); err != nil {
		t.Fatalf("SetupBridge: %v", err)
	}
	if err := lab.WaitLinks(context.Background()); err != nil {
		t.Fatal(err)
	}
	fw, err := Open(WithNetNS(lab.Box.Fd()))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { fw.Close() })
	if err := fw.Apply(r); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return &testBox{Lab: lab, fw: fw}
}

// udp sends one datagram from src on host from to dst on host to, and
// reports whether it arrived.
func udp(t *testing.T, from, to *netlab.NS, src netip.Addr, dst netip.AddrPort) bool {
	t.Helper()
	return udpSized(t, from, to, src, dst, 32)
}

func udpSized(t *testing.T, from, to *netlab.NS, src netip.Addr, dst netip.AddrPort, size int) bool {
	t.Helper()
	return udpFrom(t, from, to, netip.AddrPortFrom(src, 0), dst, size)
}

// udpFrom sends one datagram of size bytes from src (port 0: any) and
// reports whether it arrived whole.
func udpFrom(t *testing.T, from, to *netlab.NS, src, dst netip.AddrPort, size int) bool {
	t.Helper()
	rx, err := to.ListenUDP(dst)
	if err != nil {
		t.Fatalf("listen %v in %s: %v", dst, to.Name, err)
	}
	defer rx.Close()
	tx, err := from.DialUDP(src.Addr(), netip.AddrPortFrom(dst.Addr(), rx.LocalAddr().(*net.UDPAddr).AddrPort().Port()), src.Port())
	if err != nil {
		t.Fatalf("dial %v from %v: %v", dst, src, err)
	}
	defer tx.Close()
	msg := bytes.Repeat([]byte{'x'}, size)
	copy(msg, fmt.Sprintf("from %v", src))
	if _, err := tx.Write(msg); err != nil {
		t.Fatalf("send from %v: %v", src, err)
	}
	buf := make([]byte, 65536)
	_ = rx.SetReadDeadline(time.Now().Add(silence))
	for {
		n, _, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil {
			return false
		}
		if bytes.Equal(buf[:n], msg) {
			return true
		}
	}
}

// tcp opens a connection from src on host from to dst on host to, and
// reports whether a message crossed it.
func tcp(t *testing.T, from, to *netlab.NS, src netip.Addr, dst netip.AddrPort) bool {
	t.Helper()
	l, err := to.ListenTCP(dst)
	if err != nil {
		t.Fatalf("listen %v in %s: %v", dst, to.Name, err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("hello"))
	}()
	c, err := from.DialTCP(context.Background(), src, dst, silence)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(silence))
	b := make([]byte, 5)
	_, err = io.ReadFull(c, b)
	return err == nil && string(b) == "hello"
}

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

func mustPrefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		p, err := ParsePrefix(s)
		if err != nil {
			panic(err)
		}
		out = append(out, p)
	}
	return out
}

func counter(t *testing.T, fw *Firewall, name string) uint64 {
	t.Helper()
	st, err := fw.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	c, ok := st.Counters[name]
	if !ok {
		t.Fatalf("no counter %q in %v", name, st.Counters)
	}
	return c.Packets
}
