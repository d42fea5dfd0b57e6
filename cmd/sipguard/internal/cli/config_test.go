package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestConfigGetSet(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sipguard.toml")
	writeFile(t, file, string(config.Default()))
	cfg := func(args ...string) (int, string, string) {
		return run(t, append([]string{"--api", filepath.Join(dir, "none.sock"), "config"}, args...)...)
	}
	if code, out, errOut := cfg("get", "--config", file, "sip.register_limit"); code != 0 || out != "5\n" {
		t.Errorf("get: %d %q %s", code, out, errOut)
	}
	if code, out, _ := cfg("get", "--config", file, "sip.block_time"); code != 0 || out != "10m0s\n" {
		t.Errorf("get a duration: %d %q", code, out)
	}
	if code, out, _ := cfg("get", "--config", file); code != 0 || !strings.Contains(out, "[sip]") || !strings.Contains(out, "register_limit = 5") {
		t.Errorf("get the whole file: %d\n%s", code, out)
	}
	if code, _, errOut := cfg("get", "--config", file, "sip.colour"); code == 0 || !strings.Contains(errOut, "sip.colour: unknown key") {
		t.Errorf("get an unknown key: %d %s", code, errOut)
	}
	// No file, no daemon: the defaults, said so.
	if code, out, errOut := cfg("get", "ports.bridge"); code != 0 || out != "br0\n" || !strings.Contains(errOut, "the defaults") {
		t.Errorf("get without a file: %d %q %q", code, out, errOut)
	}

	if code, out, errOut := cfg("set", "--config", file, "sip.register_limit", "3"); code != 0 || !strings.Contains(out, "no daemon running") {
		t.Fatalf("set: %d %s %s", code, out, errOut)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(config.Default()), "register_limit = 5  ", "register_limit = 3  ", 1)
	if string(got) != want {
		t.Errorf("set changed more than the key:\n%s", got)
	}
	// The file holds secrets: set leaves it readable by its owner only.
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the file's mode after set: %v %v, want 0600", fi.Mode(), err)
	}
	// Bad values are refused with their key, and the file is left
	// byte for byte as it was.
	for _, c := range []struct{ key, value, want string }{
		{"sip.register_limit", "0", "register_limit: 0 is outside"},
		{"sip.register_limit", "five", `sip.register_limit: "five" is not a whole number`},
		{"sip.trusted_only", "maybe", `sip.trusted_only: "maybe" is not true or false`},
		{"sip.block_time", "forever", "sip.block_time"},
		{"sip.protocols", "udp,sctp", "sip.protocols[1]"},
		{"state.on_stop", "explode", "state.on_stop"},
		{"sip.colour", "red", "sip.colour: unknown key"},
		{"sip", "x", "sip: unknown key"},
	} {
		code, _, errOut := cfg("set", "--config", file, c.key, c.value)
		if code == 0 || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "unchanged") {
			t.Errorf("set %s %s: %d %q, want an error with %q", c.key, c.value, code, errOut, c.want)
		}
		if now, _ := os.ReadFile(file); !bytes.Equal(now, got) {
			t.Fatalf("set %s %s changed the file", c.key, c.value)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".sipguard.toml.*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// The daemon's own file: set writes it, then asks the daemon to apply it.
	f := &fakeDaemon{config: file}
	sock := serveFake(t, f)
	if code, out, errOut := run(t, "--api", sock, "config", "set", "sip.protocols", "udp"); code != 0 || !strings.Contains(out, "written and applied") || f.reloads != 1 {
		t.Errorf("set through the daemon: %d %s %s (%d reloads)", code, out, errOut, f.reloads)
	}
	if code, out, _ := run(t, "--api", sock, "config", "get", "sip.protocols"); code != 0 || out != "[\"udp\"]\n" {
		t.Errorf("get from the daemon's file: %d %q", code, out)
	}
	// Another file than the daemon's: the daemon is left alone.
	other := filepath.Join(dir, "new.toml")
	if code, out, errOut := run(t, "--api", sock, "config", "set", "--config", other, "sip.prefix6", "56"); code != 0 || f.reloads != 1 || !strings.Contains(out, "no daemon running with this file") {
		t.Errorf("set another file: %d %s %s (%d reloads)", code, out, errOut, f.reloads)
	}
	if data, _ := os.ReadFile(other); string(data) != "[sip]\nprefix6 = 56\n" {
		t.Errorf("a new file: %q", data)
	}
}
