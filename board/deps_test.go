package board

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool:", err)
	}
	out, err := exec.Command(goTool, append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// Only this package talks to periph.io's host drivers, and of those only
// to the GPIO character-device driver.
func TestPeriphHostStaysHere(t *testing.T) {
	for _, dep := range goList(t, "-deps", ".") {
		if strings.HasPrefix(dep, "periph.io/x/host/") && dep != "periph.io/x/host/v3/gpioioctl" {
			t.Errorf("board pulls in %s: only the GPIO character-device driver is wanted", dep)
		}
	}
	for _, line := range goList(t, "-f", `{{.ImportPath}} {{join .Imports " "}}`, filepath.Join("..", "...")) {
		pkg, imports, _ := strings.Cut(line, " ")
		if pkg != "github.com/sipguard/sipguard/board" && strings.Contains(" "+imports, " periph.io/x/host") {
			t.Errorf("%s imports periph.io/x/host: keep it behind board", pkg)
		}
	}
}
