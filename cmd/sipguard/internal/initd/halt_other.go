//go:build !unix

package initd

import (
	"fmt"
	"runtime"
)

// RequestHalt fails: only the box, a Linux system under sipguard's init,
// halts that way.
func RequestHalt(action string) error {
	return fmt.Errorf("%s: sipguard's init runs on the box only, not on %s", action, runtime.GOOS)
}
