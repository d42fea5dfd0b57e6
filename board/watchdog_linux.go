package board

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Watchdog is a Linux hardware watchdog (/dev/watchdog): once open, the
// machine resets unless Feed is called within the timeout.
type Watchdog struct {
	f       *os.File
	timeout time.Duration
}

// OpenWatchdog opens the watchdog device at path and sets its timeout
// (rounded to whole seconds; drivers may pick the nearest they support,
// which Timeout then reports). A missing device is reported with an error
// that wraps fs.ErrNotExist.
func OpenWatchdog(path string, timeout time.Duration) (*Watchdog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	w := &Watchdog{f: f, timeout: timeout}
	secs := int(timeout.Round(time.Second) / time.Second)
	if secs > 0 {
		// WDIOC_SETTIMEOUT writes back the timeout the driver chose.
		if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.WDIOC_SETTIMEOUT, secs); err != nil {
			w.timeout = 0
		}
		if got, err := unix.IoctlGetInt(int(f.Fd()), unix.WDIOC_GETTIMEOUT); err == nil {
			w.timeout = time.Duration(got) * time.Second
		}
	}
	return w, nil
}

// Timeout is the watchdog's timeout as the driver set it (0 if unknown).
func (w *Watchdog) Timeout() time.Duration { return w.timeout }

// Feed restarts the watchdog's countdown.
func (w *Watchdog) Feed() error {
	if err := unix.IoctlWatchdogKeepalive(int(w.f.Fd())); err != nil {
		return fmt.Errorf("watchdog: keepalive: %w", err)
	}
	return nil
}

// Close disarms the watchdog with the magic close ('V'), which drivers
// built without NOWAYOUT honour, and closes the device.
func (w *Watchdog) Close() error {
	_, err := w.f.Write([]byte("V"))
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("watchdog: close: %w", err)
	}
	return nil
}
