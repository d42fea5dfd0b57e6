package api

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the wire types the API's own: the daemon converts
// the state file's types to them, so neither the state file's package nor
// the daemon is reachable from here.
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
				t.Errorf("package api depends on %s", dep)
			}
		}
	}
}
