//go:build !linux

package verdict

import (
	"context"

	"github.com/sipguard/sipguard/netfilter"
)

// QueueLength bounds the packets waiting for a verdict.
const QueueLength = 1024

// NFQueue is only implemented on Linux.
type NFQueue struct{}

// OpenQueue fails with netfilter.ErrUnsupported.
func OpenQueue(int) (*NFQueue, error) { return nil, netfilter.ErrUnsupported }

func (*NFQueue) Close() error                            { return netfilter.ErrUnsupported }
func (*NFQueue) Run(context.Context, func(Packet)) error { return netfilter.ErrUnsupported }
func (*NFQueue) Accept(uint32, uint32) error             { return netfilter.ErrUnsupported }
func (*NFQueue) Drop(uint32) error                       { return netfilter.ErrUnsupported }
