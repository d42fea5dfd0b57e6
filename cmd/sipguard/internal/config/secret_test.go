package config

import (
	"os"
	"path/filepath"
	"testing"
)

// The configuration file holds secrets: WriteFile makes it readable by its
// owner only, a new file as an old one that was wider.
func TestWriteFileOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sipguard.toml")
	if err := WriteFile(p, Default()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new file: %v %v, want 0600", fi.Mode(), err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("[sip]\nregister_limit = 3\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file that was 0644: %v %v, want 0600", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(p); string(b) != "[sip]\nregister_limit = 3\n" {
		t.Errorf("content %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}
