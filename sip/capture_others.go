//go:build !linux

package sip

import (
	"context"
	"errors"

	"github.com/sipguard/sipguard/sip/portrange"
)

// Capture is only implemented on Linux.
type Capture struct{}

// CaptureConfig sizes a capture (Linux only).
type CaptureConfig struct{ Workers, QueueBytes, FrameBytes, Batch int }

// CaptureStats counts what a capture lost (Linux only).
type CaptureStats struct{ Drops, Truncated uint64 }

// Backlog is how full a capture's queue was, in percent (Linux only).
type Backlog uint8

var errUnsupported = errors.New("sip: capture needs Linux (AF_PACKET)")

// Listen fails: capture needs Linux.
func Listen(string, []portrange.Range, bool, bool) (*Capture, error) { return nil, errUnsupported }

// ListenConfig fails: capture needs Linux.
func ListenConfig(string, []portrange.Range, bool, bool, CaptureConfig) (*Capture, error) {
	return nil, errUnsupported
}

func (*Capture) Workers() int { return 0 }
func (*Capture) Run(context.Context, func(worker int, frame []byte, b Backlog)) error {
	return errUnsupported
}
func (*Capture) Stats() (CaptureStats, error) { return CaptureStats{}, errUnsupported }
func (*Capture) Close() error                 { return errUnsupported }
