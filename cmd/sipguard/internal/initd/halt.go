package initd

import "os"

// EnvUnderInit is set in the service's environment when sipguard's init
// supervises it: the service then asks init, by signal, to reboot or power
// off.
const EnvUnderInit = envUnderInit + "=1"

const envUnderInit = "SIPGUARD_INIT"

// UnderInit reports whether this process is the service that sipguard's
// init started: its parent is PID 1 and it carries the init's mark.
func UnderInit() bool {
	return os.Getppid() == 1 && os.Getenv(envUnderInit) == "1"
}
