package dashboard

import (
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/depcheck"
)

// TestDependencies keeps the pages on the daemon's backend: they reach
// neither the daemon nor the state file but through it.
func TestDependencies(t *testing.T) { depcheck.Forbid(t, "store", "daemon") }
