package verdict

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/netfilter"
)

// QueueLength bounds the packets waiting for a verdict; past it the
// kernel lets packets through unjudged (fail-open).
const QueueLength = 1024

// nfnetlink_queue's protocol (linux/netfilter/nfnetlink_queue.h).
const (
	nfnlSubsysQueue = 3
	msgPacket       = nfnlSubsysQueue<<8 | 0 // NFQNL_MSG_PACKET
	msgVerdict      = nfnlSubsysQueue<<8 | 1 // NFQNL_MSG_VERDICT
	msgConfig       = nfnlSubsysQueue<<8 | 2 // NFQNL_MSG_CONFIG

	attrPacketHdr  = 1  // NFQA_PACKET_HDR: be32 id, be16 protocol, u8 hook
	attrVerdictHdr = 2  // NFQA_VERDICT_HDR: be32 verdict, be32 id
	attrMark       = 3  // NFQA_MARK: be32
	attrPayload    = 10 // NFQA_PAYLOAD

	cfgCmd    = 1 // NFQA_CFG_CMD: u8 command, u8 pad, be16 pf
	cfgParams = 2 // NFQA_CFG_PARAMS: be32 copy range, u8 copy mode
	cfgMaxLen = 3 // NFQA_CFG_QUEUE_MAXLEN: be32
	cfgMask   = 4 // NFQA_CFG_MASK: be32
	cfgFlags  = 5 // NFQA_CFG_FLAGS: be32

	cmdBind       = 1 // NFQNL_CFG_CMD_BIND
	copyPacket    = 2 // NFQNL_COPY_PACKET
	flagFailOpen  = 1 // NFQA_CFG_F_FAIL_OPEN
	verdictDrop   = 0 // NF_DROP
	verdictAccept = 1 // NF_ACCEPT

	copyRange  = 0xffff  // whole datagrams
	socketBuf  = 4 << 20 // the socket's receive buffer
	recvBuf    = 2*copyRange + 1024
	pollPeriod = 200 * time.Millisecond // how often a blocked read looks at its context
)

// NFQueue is the kernel's netfilter queue of the first-packet verdict,
// read with blocking calls on a thread of its own: a queued packet wakes
// that thread directly, with no hop through the runtime's poller, and
// nothing is allocated per packet.
type NFQueue struct {
	fd      int
	buf     []byte
	verdict [48]byte
}

// OpenQueue opens the verdict queue in the network namespace behind ns
// (0: the caller's) and binds it: packets are copied whole, at most
// QueueLength wait, and a full queue or socket lets packets through.
func OpenQueue(ns int) (*NFQueue, error) {
	var fd int
	err := netfilter.InNetNS(ns, func() (err error) {
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: netlink socket: %w", netfilter.ErrVerdictUnavailable, err)
	}
	q := &NFQueue{fd: fd, buf: make([]byte, recvBuf)}
	if err := q.setup(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return q, nil
}

func (q *NFQueue) setup() error {
	if err := unix.Bind(q.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("bind netlink socket: %w", err)
	}
	// A burst beyond the buffer is let through by the kernel (fail-open):
	// the reader needs no error for it.
	_ = unix.SetsockoptInt(q.fd, unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS, 1)
	if unix.SetsockoptInt(q.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuf) != nil {
		_ = unix.SetsockoptInt(q.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuf)
	}
	tv := unix.NsecToTimeval(pollPeriod.Nanoseconds())
	if err := unix.SetsockoptTimeval(q.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("netlink socket timeout: %w", err)
	}
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	for _, attrs := range [][]attr{
		{{cfgCmd, []byte{cmdBind, 0, 0, 0}}},
		{{cfgParams, append(be32(copyRange), copyPacket)}},
		{{cfgMaxLen, be32(QueueLength)}, {cfgMask, be32(flagFailOpen)}, {cfgFlags, be32(flagFailOpen)}},
	} {
		if err := q.config(attrs); err != nil {
			return fmt.Errorf("%w: bind netfilter queue %d: %w", netfilter.ErrVerdictUnavailable, netfilter.VerdictQueue, err)
		}
	}
	return nil
}

type attr struct {
	typ  uint16
	data []byte
}

// message builds a netlink message of nfnetlink_queue for the verdict
// queue into b.
func message(b []byte, typ, flags uint16, attrs []attr) []byte {
	b = b[:0]
	b = binary.NativeEndian.AppendUint32(b, 0) // length, below
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, 0) // sequence
	b = binary.NativeEndian.AppendUint32(b, 0) // port id: the kernel fills it in
	b = append(b, unix.AF_UNSPEC, unix.NFNETLINK_V0)
	b = binary.BigEndian.AppendUint16(b, netfilter.VerdictQueue)
	for _, a := range attrs {
		b = binary.NativeEndian.AppendUint16(b, uint16(4+len(a.data)))
		b = binary.NativeEndian.AppendUint16(b, a.typ)
		b = append(b, a.data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	return b
}

// config sends a configuration message and waits for its acknowledgement.
func (q *NFQueue) config(attrs []attr) error {
	if _, err := unix.Write(q.fd, message(nil, msgConfig, unix.NLM_F_REQUEST|unix.NLM_F_ACK, attrs)); err != nil {
		return err
	}
	for {
		n, err := unix.Read(q.fd, q.buf)
		if err != nil {
			return err
		}
		for b := q.buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(b))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				break
			}
			if binary.NativeEndian.Uint16(b[4:]) == unix.NLMSG_ERROR && l >= unix.NLMSG_HDRLEN+4 {
				if errno := int32(binary.NativeEndian.Uint32(b[unix.NLMSG_HDRLEN:])); errno != 0 {
					return unix.Errno(-errno)
				}
				return nil
			}
			b = b[min(len(b), (l+3)&^3):]
		}
	}
}

// Close closes the queue; the kernel then lets packets through unjudged.
func (q *NFQueue) Close() error { return unix.Close(q.fd) }

// Run reads the queue on a thread of its own and calls fn for each packet
// until ctx ends. It must not run twice at once.
func (q *NFQueue) Run(ctx context.Context, fn func(Packet)) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for ctx.Err() == nil {
		n, err := unix.Read(q.fd, q.buf)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR || err == unix.ENOBUFS:
			continue
		case err != nil:
			return fmt.Errorf("read netfilter queue: %w", err)
		}
		for b := q.buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(b))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				break
			}
			if binary.NativeEndian.Uint16(b[4:]) == msgPacket {
				if p, ok := parsePacket(b[unix.NLMSG_HDRLEN+4 : l]); ok {
					fn(p)
				}
			}
			b = b[min(len(b), (l+3)&^3):]
		}
	}
	return nil
}

// parsePacket reads a queued packet's attributes.
func parsePacket(b []byte) (p Packet, ok bool) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			break
		}
		v := b[4:l]
		switch binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER) {
		case attrPacketHdr:
			if len(v) >= 4 {
				p.ID, ok = binary.BigEndian.Uint32(v), true
			}
		case attrMark:
			if len(v) >= 4 {
				p.Mark = binary.BigEndian.Uint32(v)
			}
		case attrPayload:
			p.Data = v
		}
		b = b[min(len(b), (l+3)&^3):]
	}
	return p, ok
}

// Accept lets a packet through with mark as its mark.
func (q *NFQueue) Accept(id, mark uint32) error { return q.send(id, verdictAccept, mark, true) }

// Drop drops a packet.
func (q *NFQueue) Drop(id uint32) error { return q.send(id, verdictDrop, 0, false) }

func (q *NFQueue) send(id, verdict, mark uint32, withMark bool) error {
	var hdr, m [8]byte
	binary.BigEndian.PutUint32(hdr[:], verdict)
	binary.BigEndian.PutUint32(hdr[4:], id)
	binary.BigEndian.PutUint32(m[:], mark)
	attrs := [2]attr{{attrVerdictHdr, hdr[:]}, {attrMark, m[:4]}}
	n := 1
	if withMark {
		n = 2
	}
	_, err := unix.Write(q.fd, message(q.verdict[:0], msgVerdict, unix.NLM_F_REQUEST, attrs[:n]))
	if err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("verdict for packet %d: %w", id, err)
	}
	return err
}
