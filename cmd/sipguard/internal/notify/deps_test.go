package notify

import (
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/depcheck"
)

// TestDependencies keeps the notifications apart from the API and the
// daemon: they take the attack log's events and reports as the state file
// keeps them, and views of their own for the rest.
func TestDependencies(t *testing.T) { depcheck.Forbid(t, "api", "daemon") }
