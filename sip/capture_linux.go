package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/sip/portrange"
)

// Capture reads copies of the SIP frames that enter the box on one bridge
// port (not those it sends out, which the capture on the other port sees
// entering): on the wan port, requests from the internet; on the lan port,
// the PBX's answers. The kernel filter lets only SIP through; nothing here
// is on the forwarding path.
//
// A capture is several AF_PACKET sockets on the port, its workers, joined
// in one fanout group: the kernel spreads the port's traffic among them by
// flow (a hash of addresses and ports), after reassembling IPv4 fragments,
// so that every message of one conversation, and every piece of one
// datagram, reaches the same worker. Each worker reads its socket in
// batches (recvmmsg), a frame as soon as it arrives when traffic is light.
type Capture struct {
	iface   string
	readers []*reader

	life    sync.RWMutex // Run and Stats hold it shared, Close exclusively
	closed  atomic.Bool
	running atomic.Bool
	mu      sync.Mutex // guards run
	run     *runState  // the Run in progress, if any
}

// CaptureConfig sizes a capture; zero fields take the defaults.
type CaptureConfig struct {
	// Workers is the number of sockets (and goroutines) sharing the port's
	// traffic. Default: one per CPU, at most DefaultMaxWorkers.
	Workers int
	// QueueBytes is the kernel's receive queue of the whole port, shared
	// out among the workers: what absorbs a burst while they catch up.
	// Default 16 MiB.
	QueueBytes int
	// FrameBytes is the largest frame read; a larger one is counted as
	// truncated and skipped. Default 64 KiB and a little more: a whole
	// datagram, as the kernel hands it over once it put the fragments
	// back together.
	FrameBytes int
	// Batch is how many frames one read takes at most. Default 32.
	Batch int
}

// Capture defaults: on a four-core ARM box, a 16 MiB queue per port holds
// about 20,000 frames of 500 bytes as the kernel accounts them, a tenth of
// a second of a flood at 200,000 frames a second.
const (
	DefaultMaxWorkers = 4
	DefaultQueueBytes = 16 << 20
	DefaultFrameBytes = 64<<10 + 256
	DefaultBatch      = 32
)

func (cfg *CaptureConfig) fill() error {
	if cfg.Workers == 0 {
		cfg.Workers = min(runtime.NumCPU(), DefaultMaxWorkers)
	}
	if cfg.QueueBytes == 0 {
		cfg.QueueBytes = DefaultQueueBytes
	}
	if cfg.FrameBytes == 0 {
		cfg.FrameBytes = DefaultFrameBytes
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	switch {
	case cfg.Workers < 1 || cfg.Workers > 64:
		return fmt.Errorf("capture: %d workers, want 1–64", cfg.Workers)
	case cfg.FrameBytes < 1518 || cfg.FrameBytes > 1<<20:
		return fmt.Errorf("capture: frames of %d bytes, want 1518 to 1 MiB", cfg.FrameBytes)
	case cfg.Batch < 1 || cfg.Batch > 1024:
		return fmt.Errorf("capture: batch of %d frames, want 1–1024", cfg.Batch)
	case cfg.QueueBytes < 64<<10*cfg.Workers || cfg.QueueBytes > 1<<30:
		return fmt.Errorf("capture: queue of %d bytes, want 64 KiB a worker to 1 GiB", cfg.QueueBytes)
	}
	return nil
}

// Listen opens a capture on iface for the given SIP ports and transports,
// sized by the defaults of CaptureConfig.
func Listen(iface string, ports []portrange.Range, udp, tcp bool) (*Capture, error) {
	return ListenConfig(iface, ports, udp, tcp, CaptureConfig{})
}

// ListenConfig opens a capture on iface for the given SIP ports and
// transports. The filter is checked on sample frames before it is
// installed; until a socket has bound and joined the fanout group it runs
// a filter that passes nothing, then the SIP filter, so that no other
// frame ever reaches it.
func ListenConfig(iface string, ports []portrange.Range, udp, tcp bool, cfg CaptureConfig) (*Capture, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
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
	c := &Capture{iface: iface}
	group := -1 // the fanout group, once the first socket made it
	for range cfg.Workers {
		r, err := openMember(ifi.Index, &cfg, raw, &group)
		if err != nil {
			c.closeReaders()
			return nil, fmt.Errorf("capture on %s: %w", iface, err)
		}
		c.readers = append(c.readers, r)
	}
	return c, nil
}

// dropAll is the filter a socket runs until it is a member of the group.
var dropAll = []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: 0}}

// openMember opens one socket of the fanout group. The first member
// creates the group with an identifier the kernel picks; the others join
// it.
func openMember(ifindex int, cfg *CaptureConfig, filter []bpf.RawInstruction, group *int) (r *reader, err error) {
	// Protocol 0: nothing arrives before bind.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
			r = nil
		}
	}()
	if err := attach(fd, dropAll); err != nil {
		return nil, err
	}
	r, err = newReader(fd, cfg.QueueBytes/cfg.Workers, cfg.FrameBytes, cfg.Batch)
	if err != nil {
		return nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return r, fmt.Errorf("ignore outgoing frames: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return r, fmt.Errorf("bind: %w", err)
	}
	// In a group the group's outgoing setting counts, not the socket's.
	mode := unix.PACKET_FANOUT_HASH | unix.PACKET_FANOUT_FLAG_DEFRAG | unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING
	if *group < 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, (mode|unix.PACKET_FANOUT_FLAG_UNIQUEID)<<16); err != nil {
			return r, fmt.Errorf("create fanout group: %w", err)
		}
		v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
		if err != nil {
			return r, fmt.Errorf("fanout group: %w", err)
		}
		*group = v & 0xffff
	} else if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, *group|mode<<16); err != nil {
		return r, fmt.Errorf("join fanout group %d: %w", *group, err)
	}
	if err := attach(fd, filter); err != nil {
		return r, err
	}
	return r, nil
}

// attach installs a classic BPF program on the socket, replacing any.
func attach(fd int, prog []bpf.RawInstruction) error {
	ins := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		ins[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(ins)), Filter: unsafe.SliceData(ins)}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attach filter: %w", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

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

// Backlog is how full a worker's receive queue was, in percent, when the
// frame was read: what the kernel holds that the worker has not read yet.
// At 100 the kernel drops what arrives.
type Backlog uint8

// Workers returns the number of workers; Run's worker argument is below
// it.
func (c *Capture) Workers() int { return len(c.readers) }

// runState is what Close and ctx need to stop a Run.
type runState struct {
	stop atomic.Bool
	wake int // an eventfd the workers poll besides their socket
}

func (s *runState) signal() {
	s.stop.Store(true)
	one := [8]byte{1}
	_, _ = unix.Write(s.wake, one[:])
}

// pollTimeout bounds a worker's wait in poll(2): the eventfd wakes it at
// once on cancellation; the timeout is a second line.
const pollTimeout = 250 // ms

// Run reads frames until ctx is canceled or the capture closed, calling fn
// with each from one goroutine per worker: fn is called concurrently, but
// never concurrently for the same worker, and a flow's frames all reach
// one worker. The frame is only valid during the call; fn must not block
// for long, or the worker's ring fills up. Run returns nil on
// cancellation, and the first worker's error otherwise. It may be called
// again after it returned, not twice at a time.
func (c *Capture) Run(ctx context.Context, fn func(worker int, frame []byte, backlog Backlog)) error {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed.Load() {
		return fmt.Errorf("capture on %s: %w", c.iface, net.ErrClosed)
	}
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("capture on %s: already running", c.iface)
	}
	defer c.running.Store(false)
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("capture on %s: eventfd: %w", c.iface, err)
	}
	defer unix.Close(wake)
	s := &runState{wake: wake}
	c.mu.Lock()
	c.run = s
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.run = nil
		c.mu.Unlock()
	}()
	if c.closed.Load() { // Close ran before c.run was set
		return nil
	}
	stop := context.AfterFunc(ctx, s.signal)
	defer stop()

	errs := make([]error, len(c.readers))
	var wg sync.WaitGroup
	for i, r := range c.readers {
		wg.Go(func() {
			if errs[i] = c.work(s, r, func(frame []byte, b Backlog) { fn(i, frame, b) }); errs[i] != nil {
				s.signal()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// work reads one worker's socket until s says stop.
func (c *Capture) work(s *runState, r *reader, fn func([]byte, Backlog)) error {
	fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}, {Fd: int32(s.wake), Events: unix.POLLIN}}
	for !s.stop.Load() {
		got, err := r.read(fn)
		if err != nil {
			return fmt.Errorf("capture on %s: %w", c.iface, err)
		}
		if got {
			continue
		}
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, pollTimeout); err != nil && err != unix.EINTR {
			return fmt.Errorf("capture on %s: poll: %w", c.iface, err)
		}
		if fds[0].Revents&unix.POLLERR != 0 {
			// The port went down, say: the socket reports it once.
			if e, err := unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && e != 0 && !s.stop.Load() {
				return fmt.Errorf("capture on %s: %w", c.iface, unix.Errno(e))
			}
		}
	}
	return nil
}

// CaptureStats counts what a capture lost, since the last call to Stats.
type CaptureStats struct {
	// Drops are frames the kernel dropped because a worker's queue was
	// full.
	Drops uint64
	// Truncated are frames larger than FrameBytes, skipped.
	Truncated uint64
}

// Stats returns what the capture lost since the last call. The kernel's
// counters reset as they are read.
func (c *Capture) Stats() (CaptureStats, error) {
	c.life.RLock()
	defer c.life.RUnlock()
	var st CaptureStats
	if c.closed.Load() {
		return st, fmt.Errorf("capture statistics on %s: %w", c.iface, net.ErrClosed)
	}
	for _, r := range c.readers {
		ks, err := unix.GetsockoptTpacketStats(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err != nil {
			return st, fmt.Errorf("capture statistics on %s: %w", c.iface, err)
		}
		st.Drops += uint64(ks.Drops)
		st.Truncated += r.truncated.Swap(0)
	}
	return st, nil
}

// Close stops a Run in progress, waits for it to return, and closes the
// sockets.
func (c *Capture) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.mu.Lock()
	if c.run != nil {
		c.run.signal()
	}
	c.mu.Unlock()
	c.life.Lock()
	defer c.life.Unlock()
	return c.closeReaders()
}

func (c *Capture) closeReaders() error {
	var errs []error
	for _, r := range c.readers {
		errs = append(errs, unix.Close(r.fd))
	}
	c.readers = nil
	return errors.Join(errs...)
}
