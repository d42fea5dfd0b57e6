//go:build !linux

package sip

import (
	"context"
	"errors"

	"github.com/sipguard/sipguard/sip/portrange"
)

// Capture is only implemented on Linux.
type Capture struct{}

var errUnsupported = errors.New("sip: capture needs Linux (AF_PACKET)")

// Listen fails: capture needs Linux.
func Listen(string, []portrange.Range, bool, bool) (*Capture, error) { return nil, errUnsupported }

func (*Capture) Run(context.Context, func([]byte)) error { return errUnsupported }
func (*Capture) Dropped() (uint64, error)                { return 0, errUnsupported }
func (*Capture) Close() error                            { return errUnsupported }
