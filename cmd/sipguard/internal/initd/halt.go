package initd

import (
	"os"
	"syscall"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// EnvUnderInit is set in the service's environment when sipguard's init
// supervises it: the service then asks init, by signal, to reboot or power
// off.
const EnvUnderInit = envUnderInit + "=1"

const envUnderInit = "SIPGUARD_INIT"

// The signals the service sends init.
const (
	rebootSignal   = syscall.SIGTERM
	powerOffSignal = syscall.SIGUSR2
)

// UnderInit reports whether this process is the service that sipguard's
// init started: its parent is PID 1 and it carries the init's mark.
func UnderInit() bool {
	return os.Getppid() == 1 && os.Getenv(envUnderInit) == "1"
}

// RequestHalt asks sipguard's init to reboot (api.HaltReboot) or power off
// (api.HaltPowerOff).
func RequestHalt(action string) error {
	sig := rebootSignal
	if action == api.HaltPowerOff {
		sig = powerOffSignal
	}
	return syscall.Kill(1, sig)
}
