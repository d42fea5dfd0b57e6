package verdict

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/netfilter"
)

// QueueLength bounds the packets waiting for a verdict; past it the
// kernel lets packets through unjudged (fail-open).
const QueueLength = 1024

// NFQueue is the kernel's netfilter queue of the first-packet verdict.
type NFQueue struct {
	q   *nfqueue.Nfqueue
	log *slog.Logger
}

// OpenQueue opens the verdict queue in the network namespace behind netns
// (0: the caller's). Packets are copied whole, the queue holds at most
// QueueLength of them, and a full queue or socket lets packets through.
func OpenQueue(netns int, log *slog.Logger) (*NFQueue, error) {
	q, err := nfqueue.Open(&nfqueue.Config{
		NfQueue: netfilter.VerdictQueue, MaxPacketLen: 0xffff, MaxQueueLen: QueueLength,
		Copymode: nfqueue.NfQnlCopyPacket, Flags: nfqueue.NfQaCfgFlagFailOpen,
		AfFamily: unix.AF_INET, NetNS: netns,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: open netfilter queue: %w", netfilter.ErrVerdictUnavailable, err)
	}
	// A burst beyond the socket's buffer is let through by the kernel
	// (fail-open); the listener needs no error for it.
	if err := q.SetOption(netlink.NoENOBUFS, true); err != nil {
		q.Close()
		return nil, fmt.Errorf("netfilter queue: %w", err)
	}
	return &NFQueue{q: q, log: log}, nil
}

// Close closes the queue; the kernel then lets packets through unjudged.
func (n *NFQueue) Close() error { return n.q.Close() }

// Run binds the queue and calls fn for each packet until ctx ends.
func (n *NFQueue) Run(ctx context.Context, fn func(Packet)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	failed := make(chan error, 1)
	err := n.q.RegisterWithErrorFunc(ctx, func(a nfqueue.Attribute) int {
		if a.PacketID == nil {
			return 0
		}
		p := Packet{ID: *a.PacketID}
		if a.Mark != nil {
			p.Mark = *a.Mark
		}
		if a.Payload != nil {
			p.Data = *a.Payload
		}
		fn(p)
		return 0
	}, func(err error) int {
		var op *netlink.OpError
		switch {
		case ctx.Err() != nil:
			return 1
		case errors.As(err, &op) && (op.Timeout() || errors.Is(op.Err, unix.ENOBUFS)):
			return 0 // the kernel let the overflow through
		}
		select {
		case failed <- err:
		default:
		}
		return 1
	})
	if err != nil {
		return fmt.Errorf("%w: bind netfilter queue %d: %w", netfilter.ErrVerdictUnavailable, netfilter.VerdictQueue, err)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return fmt.Errorf("netfilter queue: %w", err)
	}
}

// Accept lets a packet through with mark as its mark.
func (n *NFQueue) Accept(id, mark uint32) error {
	return n.q.SetVerdictWithMark(id, nfqueue.NfAccept, int(mark))
}

// Drop drops a packet.
func (n *NFQueue) Drop(id uint32) error { return n.q.SetVerdict(id, nfqueue.NfDrop) }
