package notify

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the notifications apart from the API and the
// daemon: they take the attack log's events and reports as the state file
// keeps them, and views of their own for the rest.
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
			"github.com/sipguard/sipguard/cmd/sipguard/internal/api",
			"github.com/sipguard/sipguard/cmd/sipguard/internal/daemon",
		} {
			if dep == banned {
				t.Errorf("package notify depends on %s", dep)
			}
		}
	}
}
