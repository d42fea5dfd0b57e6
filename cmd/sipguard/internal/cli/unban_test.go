package cli

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// unban refuses a permanent ban without --permanent and says so; with it,
// the ban is lifted and an address not banned is reported.
func TestUnbanPermanent(t *testing.T) {
	f := &fakeDaemon{permanent: map[netip.Prefix]bool{netip.MustParsePrefix("203.0.113.66/32"): true}}
	sock := serveFake(t, f)
	code, out, errOut := run(t, "--api", sock, "unban", "203.0.113.66")
	if code == 0 || !strings.Contains(errOut, "unban --permanent") {
		t.Errorf("unban of a permanent ban: %d %q %q", code, out, errOut)
	}
	if !f.permanent[netip.MustParsePrefix("203.0.113.66/32")] {
		t.Fatal("a refused unban lifted the permanent ban")
	}
	code, out, errOut = run(t, "--api", sock, "unban", "--permanent", "203.0.113.66", "198.51.100.7")
	if code != 0 {
		t.Fatalf("unban --permanent: %d %s", code, errOut)
	}
	for _, want := range []string{"permanent ban lifted: 203.0.113.66/32", "198.51.100.7/32: not banned permanently", "unbanned 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("unban --permanent lacks %q:\n%s", want, out)
		}
	}
	if f.permanent[netip.MustParsePrefix("203.0.113.66/32")] {
		t.Error("the permanent ban was not lifted")
	}
	// A network is taken as it is written.
	if code, out, errOut := run(t, "--api", sock, "unban", "198.51.100.0/24"); code != 0 || !strings.Contains(out, "unbanned 1") {
		t.Errorf("unban of a network: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := run(t, "--api", sock, "unban", "198.51.100.7/24"); code != 2 || !strings.Contains(errOut, "not an IP address or network") {
		t.Errorf("unban of a network with host bits: %d %q", code, errOut)
	}
}

// With no daemon running, unban --permanent needs the state file, and
// says so before it touches anything.
func TestUnbanPermanentNoDaemonNeedsState(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	code, _, errOut := run(t, "--api", sock, "unban", "--permanent", "203.0.113.66")
	if code != 2 || !strings.Contains(errOut, "--state") {
		t.Errorf("unban --permanent with no daemon and no --state: %d %q", code, errOut)
	}
	code, _, errOut = run(t, "--api", sock, "unban", "--permanent", "--state", filepath.Join(t.TempDir(), "missing.db"), "203.0.113.66")
	if code != 1 || !strings.Contains(errOut, "state file") {
		t.Errorf("unban --permanent with a missing state file: %d %q", code, errOut)
	}
}

// bans shows network bans as networks and the country of permanent bans.
func TestBansShowNetworksAndCountries(t *testing.T) {
	sock := serveFake(t, &fakeDaemon{moreBans: []api.Ban{{Source: "198.51.100.0/24", Reason: "guessing spread over a network", Expires: 5 * time.Minute}}})
	code, out, errOut := run(t, "--api", sock, "bans")
	if code != 0 {
		t.Fatalf("bans: %d %s", code, errOut)
	}
	for _, want := range []string{"198.51.100.0/24", "NL"} {
		if !strings.Contains(out, want) {
			t.Errorf("bans lacks %q:\n%s", want, out)
		}
	}
}
