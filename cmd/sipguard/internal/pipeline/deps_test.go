package pipeline

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the flow one-way: the pipeline takes the kernel
// and the state file through its interfaces, and knows nothing of the
// daemon, its API, the command line or the LEDs.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"/internal/daemon", "/internal/api", "/internal/cli", "/internal/config", "github.com/sipguard/sipguard/leds", "github.com/sipguard/sipguard/board"} {
			if strings.Contains(dep, banned) {
				t.Errorf("package pipeline depends on %s", dep)
			}
		}
	}
}
