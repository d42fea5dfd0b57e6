package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Version: "v1.2.3-test"}, args)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "sipguard v1.2.3-test (") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestHelpListsCommands(t *testing.T) {
	code, out, _ := run(t, "--help")
	for _, c := range []string{"daemon", "status", "ban", "unban", "bans", "version", "completion"} {
		if !strings.Contains(out, c) {
			t.Errorf("help does not list %s:\n%s", c, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
}

// Bad input is rejected with exit code 2 and a message naming the problem,
// before anything touches the kernel.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ban", "203.0.113.300"}, `"203.0.113.300" is not an IP address`},
		{[]string{"ban", "--for", "soon", "203.0.113.5"}, "invalid argument"},
		{[]string{"unban", "fe80::1%eth0"}, "is not an IP address"},
		{[]string{"daemon", "--wan", "wan", "--lan", "lan", "--deny", "203.0.113.5/24"}, "host bits"},
		{[]string{"daemon", "--sip-ports", "5062:5060"}, "runs backwards"},
		{[]string{"daemon", "--tftp-rate", "10/fortnight"}, "--tftp-rate"},
		{[]string{"daemon", "--ban-prefix6", "200"}, "prefix6: 200 is outside 48–128"},
		{[]string{"daemon", "--wan", "a-name-far-too-long-for-linux"}, "wan:"},
		{[]string{"daemon", "--mgmt-addr", "192.0.2.2"}, "--mgmt-addr"},
		{[]string{"status", "extra"}, "unknown command"},
		{[]string{"nosuchcommand"}, "unknown command"},
	} {
		code, _, stderr := run(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want failure mentioning %q", c.args, code, stderr, c.want)
		}
	}
}

func TestConfigCommands(t *testing.T) {
	code, defaults, _ := run(t, "config", "defaults")
	if code != 0 || !strings.Contains(defaults, "register_limit = 5") {
		t.Fatalf("config defaults: %d\n%s", code, defaults)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(good, []byte(defaults), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, "config", "validate", good); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("the defaults do not validate: %d %s %s", code, out, errOut)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[sip]\nblock_threshold = 99\ncolour = \"red\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "config", "validate", bad)
	if code == 0 || !strings.Contains(errOut, "sip.colour: unknown key") || !strings.Contains(errOut, "block_threshold: 99 is outside 1–20") {
		t.Errorf("config validate bad: %d %s", code, errOut)
	}
	// The daemon refuses a bad file before it touches anything.
	if code, _, errOut := run(t, "daemon", "--config", bad); code == 0 || !strings.Contains(errOut, "unknown key") {
		t.Errorf("daemon --config bad: %d %s", code, errOut)
	}
}
