//go:build !linux

package board

import (
	"errors"
	"fmt"
	"time"
)

// Watchdog is a hardware watchdog; only Linux has one here.
type Watchdog struct{}

// OpenWatchdog reports that this system has no watchdog driver.
func OpenWatchdog(path string, timeout time.Duration) (*Watchdog, error) {
	return nil, fmt.Errorf("watchdog %s: %w", path, errors.ErrUnsupported)
}

// Timeout returns 0.
func (w *Watchdog) Timeout() time.Duration { return 0 }

// Feed reports errors.ErrUnsupported.
func (w *Watchdog) Feed() error { return errors.ErrUnsupported }

// Close reports errors.ErrUnsupported.
func (w *Watchdog) Close() error { return errors.ErrUnsupported }
