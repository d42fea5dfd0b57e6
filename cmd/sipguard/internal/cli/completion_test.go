package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The completion scripts are produced and, where the shell is installed,
// are valid syntax. Under CI bash must be there.
func TestCompletionScripts(t *testing.T) {
	for _, c := range []struct {
		shell string
		check []string // the shell's syntax check, FILE appended
		want  string
	}{
		{"bash", []string{"bash", "-n"}, "__start_sipguard"},
		{"zsh", []string{"zsh", "-n"}, "#compdef sipguard"},
		{"fish", []string{"fish", "--no-execute"}, "complete -c sipguard"},
	} {
		t.Run(c.shell, func(t *testing.T) {
			code, out, errOut := run(t, "completion", c.shell)
			if code != 0 || !strings.Contains(out, c.want) {
				t.Fatalf("completion %s: %d %s\n%.300s", c.shell, code, errOut, out)
			}
			sh, err := exec.LookPath(c.check[0])
			if err != nil {
				if c.shell == "bash" && os.Getenv("CI") == "true" {
					t.Fatal("bash is not installed")
				}
				t.Skipf("%s is not installed: syntax not checked", c.shell)
			}
			file := filepath.Join(t.TempDir(), "sipguard."+c.shell)
			writeFile(t, file, out)
			if msg, err := exec.Command(sh, append(c.check[1:], file)...).CombinedOutput(); err != nil {
				t.Errorf("%s rejects the script: %v\n%s", c.shell, err, msg)
			}
		})
	}
}

// Dynamic completion (what the scripts call) offers the commands, the
// lists' subcommands, the status flags and the configuration's keys.
func TestDynamicCompletion(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{""}, []string{"status", "report", "allow", "deny", "unban", "bans", "check", "config", "version"}},
		{[]string{"allow", ""}, []string{"add", "del", "list", "import", "export"}},
		{[]string{"deny", "l"}, []string{"list"}},
		{[]string{"status", "--"}, []string{"--all", "--allow", "--deny", "--dynamic", "--json"}},
		{[]string{"config", ""}, []string{"get", "set", "validate", "defaults"}},
		{[]string{"config", "get", "sip.reg"}, []string{"sip.register_limit"}},
		{[]string{"config", "set", ""}, []string{"ports.wan", "sip.block_threshold", "state.on_stop"}},
		{[]string{"report", "--"}, []string{"--day", "--since", "--top", "--json"}},
	} {
		code, out, errOut := run(t, append([]string{"__complete"}, c.args...)...)
		if code != 0 {
			t.Errorf("__complete %q: %d %s", c.args, code, errOut)
			continue
		}
		offered := map[string]bool{}
		for line := range strings.SplitSeq(out, "\n") {
			if line != "" && !strings.HasPrefix(line, ":") {
				offered[strings.SplitN(line, "\t", 2)[0]] = true
			}
		}
		for _, w := range c.want {
			if !offered[w] {
				t.Errorf("__complete %q does not offer %s:\n%s", c.args, w, out)
			}
		}
	}
	// Words already given are not offered again.
	if _, out, _ := run(t, "__complete", "config", "get", "sip.register_limit", ""); strings.Contains(out, "sip.") {
		t.Errorf("config get offers a second key:\n%s", out)
	}
}
