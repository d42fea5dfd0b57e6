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
// of this namespace) and connected to dst.
func (n *NS) DialUDP(src netip.Addr, dst netip.AddrPort) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := n.Do(func() (err error) {
		c, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(dst))
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
