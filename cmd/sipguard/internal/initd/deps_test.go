package initd

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the init below the service: it starts the daemon
// as a process and shares only the boot constants of package firmware with
// it, never the daemon's code.
func TestDependencies(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "GOOS=linux") // the init's own files are Linux-only
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		banned := "github.com/sipguard/sipguard/cmd/sipguard/internal/daemon"
		if dep == banned || strings.HasPrefix(dep, banned+"/") {
			t.Errorf("package initd depends on %s", dep)
		}
	}
}
