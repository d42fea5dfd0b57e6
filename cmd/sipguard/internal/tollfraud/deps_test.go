package tollfraud

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the watch a leaf of the service: the daemon and
// the configuration use it, it knows nothing of them, of the pipeline, the
// API or the command line.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"daemon", "api", "cli", "config", "pipeline", "store", "notify"} {
			banned = "github.com/sipguard/sipguard/cmd/sipguard/internal/" + banned
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("package tollfraud depends on %s", dep)
			}
		}
	}
}
