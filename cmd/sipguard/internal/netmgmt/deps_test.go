package netmgmt

import (
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/depcheck"
)

// TestDependencies keeps the flow one-way: the daemon, the API and the web
// server read netmgmt; netmgmt reads none of them.
func TestDependencies(t *testing.T) {
	depcheck.Forbid(t, "daemon", "api", "web", "dashboard", "store", "cli")
}
