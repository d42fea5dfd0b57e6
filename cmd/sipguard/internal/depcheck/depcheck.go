// Package depcheck keeps, in tests, the packages of the daemon apart: a
// package's test names what it must never reach, directly or not.
package depcheck

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Internal is the import path of the daemon's packages; Forbid takes their
// short names.
const Internal = "github.com/sipguard/sipguard/cmd/sipguard/internal/"

// Forbid fails t when the package in the working directory (a test's own)
// depends on any of the packages named, by their names under Internal.
// Without the go tool it skips.
func Forbid(t testing.TB, banned ...string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool:", err)
	}
	out, err := exec.Command(goTool, "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	fields := strings.Fields(string(out))
	for _, dep := range fields[1:] {
		if name, ok := strings.CutPrefix(dep, Internal); ok && slices.Contains(banned, name) {
			t.Errorf("package %s depends on %s", fields[0], dep)
		}
	}
}
