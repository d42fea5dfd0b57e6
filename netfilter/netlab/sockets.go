package netlab

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// ListenUDP opens a UDP socket inside the namespace.
func (n *NS) ListenUDP(addr netip.AddrPort) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := n.Do(func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		return err
	})
	return c, err
}

// DialUDP opens a UDP socket inside the namespace, bound to src (an address
// of this namespace) and, when given, a source port, and connected to dst.
func (n *NS) DialUDP(src netip.Addr, dst netip.AddrPort, srcPort ...uint16) (*net.UDPConn, error) {
	var c *net.UDPConn
	port := uint16(0)
	if len(srcPort) > 0 {
		port = srcPort[0]
	}
	err := n.Do(func() (err error) {
		c, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, port)), net.UDPAddrFromAddrPort(dst))
		return err
	})
	return c, err
}

// ListenTCP opens a listening TCP socket inside the namespace.
func (n *NS) ListenTCP(addr netip.AddrPort) (*net.TCPListener, error) {
	var l *net.TCPListener
	err := n.Do(func() (err error) {
		l, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
		return err
	})
	return l, err
}

// DialTCP connects from src (an address of this namespace) to dst, giving
// up after timeout.
func (n *NS) DialTCP(ctx context.Context, src netip.Addr, dst netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	var s net.Conn
	// The socket is created inside the namespace; connecting may then
	// take its time on any thread.
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: timeout}
	err := n.Do(func() (err error) {
		s, err = d.DialContext(ctx, "tcp", dst.String())
		return err
	})
	return s, err
}

// UDPReaches sends one datagram from src (an address of host from) to dst
// (an address of host to) and reports whether it arrived within wait.
func UDPReaches(from, to *NS, src netip.Addr, dst netip.AddrPort, wait time.Duration) (bool, error) {
	rx, err := to.ListenUDP(dst)
	if err != nil {
		return false, err
	}
	defer rx.Close()
	tx, err := from.DialUDP(src, netip.AddrPortFrom(dst.Addr(), rx.LocalAddr().(*net.UDPAddr).AddrPort().Port()))
	if err != nil {
		return false, err
	}
	defer tx.Close()
	msg := []byte("probe from " + src.String())
	if _, err := tx.Write(msg); err != nil {
		return false, err
	}
	buf := make([]byte, 2048)
	_ = rx.SetReadDeadline(time.Now().Add(wait))
	for {
		n, err := rx.Read(buf)
		if err != nil {
			return false, nil
		}
		if string(buf[:n]) == string(msg) {
			return true, nil
		}
	}
}

// ListenLocal brings the namespace's loopback up and opens a listening
// TCP socket on 127.0.0.1 at a free port: a server that only the
// namespace's own processes reach, such as a feed or a mail server the box
// talks to.
func (n *NS) ListenLocal(ctx context.Context) (*net.TCPListener, error) {
	if err := IP(ctx, "-n", n.Name, "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	return n.ListenTCP(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0))
}
