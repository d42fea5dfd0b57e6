//go:build unix

package initd

import (
	"syscall"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// The signals the service sends init.
const (
	rebootSignal   = syscall.SIGTERM
	powerOffSignal = syscall.SIGUSR2
)

// RequestHalt asks sipguard's init to reboot (api.HaltReboot) or power off
// (api.HaltPowerOff).
func RequestHalt(action string) error {
	sig := rebootSignal
	if action == api.HaltPowerOff {
		sig = powerOffSignal
	}
	return syscall.Kill(1, sig)
}
