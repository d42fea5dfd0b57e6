package sip

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the flow one-way: SIP inspection decides, it never
// reaches into the firewall or the LEDs itself.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/sipguard/sipguard/netfilter", "github.com/sipguard/sipguard/leds", "periph.io/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("package sip depends on %s", dep)
			}
		}
	}
}
