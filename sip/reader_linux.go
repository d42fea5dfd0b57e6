package sip

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reader is one capture socket and its batch of buffers. Frames are read
// with recvmmsg(2), as many as are queued up to the batch size in one
// system call, without blocking: a lone frame is read as soon as it
// arrives (the socket wakes the worker per frame), and under a flood one
// call takes a whole batch. A block ring (TPACKET_V3) saves the copy but
// hands frames over a block at a time, after a timer of a few
// milliseconds when traffic is light: long enough for a fast brute force
// to get several more guesses through before its ban.
type reader struct {
	fd    int
	bufs  []byte // batch frames of frameBytes each
	iovs  []unix.Iovec
	msgs  []mmsghdr
	frame int // bytes per buffer

	truncated atomic.Uint64 // frames larger than a buffer, skipped
}

// mmsghdr is struct mmsghdr: a message header and the length received
// (Go pads it as C does, to the header's alignment).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// The fields of SO_MEMINFO (linux/sock_diag.h) read here.
const (
	memRmemAlloc = 0
	memRcvbuf    = 1
	memVars      = 9
)

// newReader sizes the socket's queue and its batch of buffers.
func newReader(fd, queueBytes, frameBytes, batch int) (*reader, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, queueBytes); err != nil {
		return nil, fmt.Errorf("receive queue of %d bytes: %w", queueBytes, err)
	}
	r := &reader{fd: fd, frame: frameBytes, bufs: make([]byte, frameBytes*batch),
		iovs: make([]unix.Iovec, batch), msgs: make([]mmsghdr, batch)}
	for i := range batch {
		r.iovs[i].Base = &r.bufs[i*frameBytes]
		r.iovs[i].SetLen(frameBytes)
		r.msgs[i].hdr.Iov = &r.iovs[i]
		r.msgs[i].hdr.SetIovlen(1)
	}
	return r, nil
}

// read reads the frames queued, up to a batch, and calls fn with each. It
// reports whether there were any; with none it returns at once.
func (r *reader) read(fn func(frame []byte, backlog Backlog)) (bool, error) {
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.msgs[0])),
		uintptr(len(r.msgs)), unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
	switch errno {
	case 0:
	case unix.EAGAIN, unix.EINTR:
		return false, nil
	default:
		return false, errno
	}
	// A batch that did not fill up drained the queue: nothing is behind,
	// and the queue's fill is read only when it may be.
	var backlog Backlog
	if int(n) == len(r.msgs) {
		backlog = r.backlog()
	}
	for i := range int(n) {
		l := int(r.msgs[i].len) // with MSG_TRUNC, the frame's whole length
		if l > r.frame {
			r.truncated.Add(1)
			continue
		}
		fn(r.bufs[i*r.frame:i*r.frame+l], backlog)
	}
	return n > 0, nil
}

// backlog is how full the socket's queue is, in percent of its size.
func (r *reader) backlog() Backlog {
	var info [memVars]uint32
	size := uint32(unsafe.Sizeof(info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(r.fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 || info[memRcvbuf] == 0 {
		return 0
	}
	return Backlog(min(100, uint64(info[memRmemAlloc])*100/uint64(info[memRcvbuf])))
}
