package api

import (
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/depcheck"
)

// TestDependencies keeps the wire types the API's own: the daemon converts
// the state file's types to them, so neither the state file's package nor
// the daemon is reachable from here.
func TestDependencies(t *testing.T) { depcheck.Forbid(t, "store", "daemon") }
