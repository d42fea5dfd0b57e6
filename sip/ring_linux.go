package sip

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is one socket's TPACKET_V3 receive ring: blocks of memory shared
// with the kernel, which fills a block with frames and hands it over
// (block status TP_STATUS_USER) when it is full or when the block timeout
// ends; the reader walks the frames in place and hands the block back
// (TP_STATUS_KERNEL). Frames are read in batches, without a system call or
// a copy per frame.
type ring struct {
	fd        int
	mem       []byte // the mapped ring: blocks one after the other
	blockSize int
	blocks    int
	next      int // the block to read next

	truncated atomic.Uint64 // frames larger than a block holds, skipped
}

// ringFrameSize is the ring's nominal frame size. TPACKET_V3 packs frames
// of any size into a block; the kernel only checks the ring's geometry
// against it.
const ringFrameSize = 2048

// blockHeaderOffset is where struct tpacket_hdr_v1 starts in a block
// (after the descriptor's version and offset_to_priv).
const blockHeaderOffset = 8

// newRing sets up a TPACKET_V3 receive ring on the packet socket fd and
// maps it.
func newRing(fd, blockSize, blocks int, timeoutMs uint32) (*ring, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("TPACKET_V3: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(blockSize),
		Block_nr:       uint32(blocks),
		Frame_size:     ringFrameSize,
		Frame_nr:       uint32(blockSize / ringFrameSize * blocks),
		Retire_blk_tov: timeoutMs,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("receive ring of %d blocks of %d bytes: %w", blocks, blockSize, err)
	}
	mem, err := unix.Mmap(fd, 0, blockSize*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_LOCKED|unix.MAP_POPULATE)
	if err != nil {
		// MAP_LOCKED can fail under RLIMIT_MEMLOCK: the ring's pages are
		// the kernel's and never swapped anyway.
		mem, err = unix.Mmap(fd, 0, blockSize*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	}
	if err != nil {
		return nil, fmt.Errorf("map receive ring: %w", err)
	}
	return &ring{fd: fd, mem: mem, blockSize: blockSize, blocks: blocks}, nil
}

// close unmaps the ring; the socket is closed by its owner.
func (r *ring) close() error {
	if r.mem == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	r.mem = nil
	return err
}

// header returns block i's header, in the memory the kernel shares.
func (r *ring) header(i int) *unix.TpacketHdrV1 {
	return (*unix.TpacketHdrV1)(unsafe.Pointer(&r.mem[i*r.blockSize+blockHeaderOffset]))
}

// ready reports whether block i is the reader's. The load orders the reads
// of the block's frames after the kernel's writes of them.
func (r *ring) ready(i int) bool {
	return atomic.LoadUint32(&r.header(i).Block_status)&unix.TP_STATUS_USER != 0
}

// release hands block i back to the kernel. The store orders it after the
// reader's last read of the block.
func (r *ring) release(i int) {
	atomic.StoreUint32(&r.header(i).Block_status, unix.TP_STATUS_KERNEL)
}

// backlog returns how full the ring is, in percent: the blocks the kernel
// has handed over and the reader not yet released, counting the next one.
// The kernel fills blocks in order, so they are the run starting there.
func (r *ring) backlog() Backlog {
	full := 0
	for full < r.blocks && r.ready((r.next+full)%r.blocks) {
		full++
	}
	return Backlog(full * 100 / r.blocks)
}

// readBlock calls fn with every frame of the next block if the kernel has
// handed it over, releases it, and reports whether there was one. A frame
// the kernel had to cut (larger than a block holds) is counted, not passed
// on. A frame is only valid during the call.
func (r *ring) readBlock(fn func(frame []byte, backlog Backlog)) bool {
	if !r.ready(r.next) {
		return false
	}
	backlog := r.backlog()
	h := r.header(r.next)
	block := r.mem[r.next*r.blockSize : (r.next+1)*r.blockSize]
	off := int(h.Offset_to_first_pkt)
frames:
	for range h.Num_pkts {
		if off <= 0 || off+unix.SizeofTpacket3Hdr > len(block) {
			break // not a frame header: leave the rest of the block
		}
		f := (*unix.Tpacket3Hdr)(unsafe.Pointer(&block[off]))
		start, end := off+int(f.Mac), off+int(f.Mac)+int(f.Snaplen)
		switch {
		case end > len(block): // not a sane frame: leave the rest
			r.truncated.Add(1)
			break frames
		case f.Snaplen < f.Len || f.Status&unix.TP_STATUS_COPY != 0:
			r.truncated.Add(1)
		default:
			fn(block[start:end:end], backlog)
		}
		if f.Next_offset == 0 {
			break
		}
		off += int(f.Next_offset)
	}
	r.release(r.next)
	r.next = (r.next + 1) % r.blocks
	return true
}
