package dashboard

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the pages on the daemon's backend: they reach
// neither the daemon nor the state file but through it.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/sipguard/sipguard/cmd/sipguard/internal/store",
			"github.com/sipguard/sipguard/cmd/sipguard/internal/daemon",
		} {
			if dep == banned {
				t.Errorf("package dashboard depends on %s", dep)
			}
		}
	}
}
