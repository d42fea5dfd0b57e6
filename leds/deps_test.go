package leds

import (
	"os/exec"
	"strings"
	"testing"
)

// The engine is pure logic: no hardware driver and none of the box's
// other packages.
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
		if strings.HasPrefix(dep, "periph.io/x/host") || strings.HasPrefix(dep, "github.com/sipguard/sipguard/") && dep != "github.com/sipguard/sipguard/leds" {
			t.Errorf("leds imports %s", dep)
		}
	}
}
