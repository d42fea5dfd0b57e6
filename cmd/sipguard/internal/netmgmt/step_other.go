//go:build !linux

package netmgmt

import (
	"errors"
	"time"
)

// SystemClock steps the wall clock: only on Linux.
type SystemClock struct{}

// Step fails: the box's clock is set only on Linux.
func (SystemClock) Step(time.Duration) error {
	return errors.ErrUnsupported
}
