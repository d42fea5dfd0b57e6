package netmgmt

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the flow one-way: the daemon, the API and the web
// server read netmgmt; netmgmt reads none of them.
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
		for _, banned := range []string{"daemon", "api", "web", "dashboard", "store", "cli"} {
			if dep == "github.com/sipguard/sipguard/cmd/sipguard/internal/"+banned {
				t.Errorf("package netmgmt depends on %s", dep)
			}
		}
	}
}
