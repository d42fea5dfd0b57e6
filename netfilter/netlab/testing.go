package netlab

import (
	"context"
	"os"
	"os/exec"
	"testing"
)

// RequireRoot skips t unless the test can create network namespaces. Under
// CI=true it fails instead: CI must run every namespace test.
func RequireRoot(t testing.TB) {
	t.Helper()
	var missing string
	switch {
	case os.Geteuid() != 0:
		missing = "root"
	default:
		for _, tool := range []string{"ip"} {
			if _, err := exec.LookPath(tool); err != nil {
				missing = tool
			}
		}
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("this test needs %s, and CI=true forbids skipping it", missing)
	}
	t.Skipf("needs %s (network namespaces)", missing)
}

// RequireTool skips t when a command-line tool is not installed, or fails
// under CI=true, where make test has installed every tool the tests use.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("this test needs %s, and CI=true forbids skipping it", name)
	}
	t.Skipf("needs %s", name)
	return ""
}

// NewT builds a lab for a test and removes it when the test ends. It skips or
// fails through [RequireRoot] when namespaces cannot be created.
func NewT(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	lab, err := New(context.Background(), UniquePrefix())
	if err != nil {
		t.Fatalf("build lab: %v", err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("remove lab: %v", err)
		}
	})
	return lab
}
