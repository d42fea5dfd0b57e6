package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/sip/portrange"
)

// Capture reads copies of the SIP frames that enter the box on one bridge
// port (not those it sends out, which the capture on the other port sees
// entering): on the wan port, requests from the internet; on the lan port,
// the PBX's answers. The kernel filter lets only SIP through; nothing here
// is on the forwarding path.
type Capture struct {
	conn  *packet.Conn
	iface string
}

// Listen opens a capture on iface for the given SIP ports and transports.
// The filter is checked on sample frames before it is installed, and
// installed before the socket binds, so no other frame ever reaches it.
func Listen(iface string, ports []portrange.Range, udp, tcp bool) (*Capture, error) {
	prog, err := Filter(ports, udp, tcp)
	if err != nil {
		return nil, err
	}
	if err := selfTest(prog, ports[0].First); err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble filter: %w", err)
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, &packet.Config{Filter: raw})
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	if err := setOptions(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	return &Capture{conn: conn, iface: iface}, nil
}

// receiveBuffer is the capture socket's queue: a burst of SIP (a flood) is
// absorbed rather than dropped while the service catches up.
const receiveBuffer = 8 << 20

// setOptions keeps the frames the interface sends off the socket
// (PACKET_IGNORE_OUTGOING, Linux 4.20) and enlarges its queue.
func setOptions(c *packet.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		if e := unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); e != nil {
			serr = fmt.Errorf("ignore outgoing frames: %w", e)
			return
		}
		if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, receiveBuffer); e != nil {
			serr = fmt.Errorf("receive buffer: %w", e)
		}
	})
	return errors.Join(err, serr)
}

// selfTest runs the filter on a SIP frame, which must pass, and on a frame
// to port 0, which no range holds and which must not.
func selfTest(prog []bpf.Instruction, port uint16) error {
	vm, err := bpf.NewVM(prog)
	if err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	frame := []byte{
		0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00, // Ethernet, IPv4
		0x45, 0, 0, 28, 0, 0, 0, 0, 64, ProtoUDP, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
		0x9c, 0x40, byte(port >> 8), byte(port), 0, 8, 0, 0, // UDP 40000 → port
	}
	if n, err := vm.Run(frame); err != nil || n == 0 {
		return fmt.Errorf("filter self-test: a SIP frame to port %d did not pass (%v)", port, err)
	}
	frame[36], frame[37] = 0, 0
	if n, err := vm.Run(frame); err != nil || n != 0 {
		return fmt.Errorf("filter self-test: a frame to port 0 passed (%v)", err)
	}
	return nil
}

// Run reads frames until ctx is canceled, calling fn with each; the frame
// is only valid during the call. It returns nil on cancellation.
func (c *Capture) Run(ctx context.Context, fn func(frame []byte)) error {
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, snapLen)
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return fmt.Errorf("capture on %s: %w", c.iface, err)
		}
		fn(buf[:n])
	}
}

// Dropped returns how many frames the kernel dropped since the last call
// because the socket's queue was full.
func (c *Capture) Dropped() (uint64, error) {
	st, err := c.conn.Stats()
	if err != nil {
		return 0, fmt.Errorf("capture statistics on %s: %w", c.iface, err)
	}
	return uint64(st.Drops), nil
}

// Close closes the capture socket.
func (c *Capture) Close() error { return c.conn.Close() }
