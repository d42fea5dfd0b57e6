package netmgmt

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// SystemClock steps the kernel's wall clock (CLOCK_REALTIME); it needs
// CAP_SYS_TIME.
type SystemClock struct{}

// Step moves the wall clock by offset.
func (SystemClock) Step(offset time.Duration) error {
	ts := unix.NsecToTimespec(time.Now().Add(offset).UnixNano())
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return fmt.Errorf("set the clock: %w", err)
	}
	return nil
}
