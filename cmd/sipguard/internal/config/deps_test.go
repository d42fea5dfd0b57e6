package config

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the configuration a leaf: the service, the API and
// the command line use it, never the other way round.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"daemon", "api", "cli"} {
			banned = "github.com/sipguard/sipguard/cmd/sipguard/internal/" + banned
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("package config depends on %s", dep)
			}
		}
	}
}
