package cli

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

func TestStatusLists(t *testing.T) {
	sock := serveFake(t, &fakeDaemon{})
	code, out, errOut := run(t, "--api", sock, "status", "--all")
	if code != 0 {
		t.Fatalf("status --all: %d %s", code, errOut)
	}
	for _, want := range []string{
		"| Allow               |          1 |",
		"| Dynamic (permanent) |          1 |",
		"Allow list (1):", "198.51.100.0/24  carrier",
		"Deny list (0):",
		"Dynamic list (1 permanent, 1 temporary):",
		"BANNED               REASON                USER-AGENT        COUNTRY  TIME LEFT",
		"2001:db8:bad:1::/64  REGISTER brute force  Asterisk PBX      NL       permanent",
		"203.0.113.66/32      scanner User-Agent    friendly-scanner           9m30s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status --all lacks %q:\n%s", want, out)
		}
	}
	// Only the lists asked for.
	_, out, _ = run(t, "--api", sock, "status", "--deny")
	if !strings.Contains(out, "Deny list (0):") || strings.Contains(out, "Allow list") || strings.Contains(out, "Dynamic list") {
		t.Errorf("status --deny:\n%s", out)
	}
	_, out, _ = run(t, "--api", sock, "status")
	if strings.Contains(out, " list (") {
		t.Errorf("status without flags prints lists:\n%s", out)
	}

	code, out, _ = run(t, "--api", sock, "status", "--dynamic", "--json")
	var got statusOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("status --dynamic --json: %d %v\n%s", code, err, out)
	}
	if got.Allow != nil || got.Bans == nil || got.Sources != 3 || got.Lists["dynamic"].IPv4 != 1 {
		t.Errorf("status --dynamic --json: %+v", got)
	}
	if b := got.Bans.Temporary; len(b) != 1 || b[0].Reason != "scanner User-Agent" || b[0].UserAgent != "friendly-scanner" || b[0].Expires != 9*time.Minute+30*time.Second {
		t.Errorf("temporary bans %+v", b)
	}
}

func TestReport(t *testing.T) {
	f := &fakeDaemon{}
	sock := serveFake(t, f)
	code, out, errOut := run(t, "--api", sock, "report", "--day", "2026-11-24", "--top", "3")
	if code != 0 {
		t.Fatalf("report: %d %s", code, errOut)
	}
	for _, want := range []string{"Attack report of 2026-11-24", "| Attacks          |     4 |", "| Bans (permanent) |     1 |",
		"| scanner User-Agent |     4 |", "| 203.0.113.66/32 |       4 |         |", "| friendly-scanner |       4 |", "| 1001                 |       3 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, "--api", sock, "report", "--since", "90m", "--json")
	var r api.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || r.Bans != 4 || r.Attacks["scanner User-Agent"] != 4 {
		t.Errorf("report --json: %d %v %+v", code, err, r)
	}
	want := []api.ReportQuery{{Day: "2026-11-24", Top: 3}, {Since: 90 * time.Minute, Top: api.DefaultTop}}
	if !reflect.DeepEqual(f.queries, want) {
		t.Errorf("the daemon was asked %+v, want %+v", f.queries, want)
	}
	// Bad flags are refused before the daemon is asked.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--day", "24.11.2026"}, "want a date like 2026-11-25"},
		{[]string{"--day", "2026-11-24", "--since", "1h"}, "not both"},
		{[]string{"--since", "-1h"}, "positive"},
		{[]string{"--top", "0"}, "--top 0"},
		{[]string{"--since", "yesterday"}, "invalid argument"},
	} {
		code, _, errOut := run(t, append([]string{"--api", sock, "report"}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("report %v: exit %d, %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	if len(f.queries) != 2 {
		t.Errorf("bad flags reached the daemon: %+v", f.queries)
	}
}

// Every command that prints data prints valid JSON with --json.
func TestJSONEverywhere(t *testing.T) {
	sock := serveFake(t, &fakeDaemon{})
	file := filepath.Join(t.TempDir(), "sipguard.toml")
	writeFile(t, file, "[sip]\nregister_limit = 3\n")
	for _, c := range []struct {
		args []string
		into any
		ok   func(any) bool
	}{
		{[]string{"status"}, &api.Status{}, func(v any) bool { return v.(*api.Status).Inspection["frames"] == 42 }},
		{[]string{"bans"}, &api.Bans{}, func(v any) bool { return len(v.(*api.Bans).Permanent) == 1 }},
		{[]string{"report"}, &api.Report{}, func(v any) bool { return v.(*api.Report).Events == 5 }},
		{[]string{"check", "203.0.113.66"}, &api.Check{}, func(v any) bool { return v.(*api.Check).Dynamic != nil }},
		{[]string{"allow", "list"}, &[]api.Entry{}, func(v any) bool { return len(*v.(*[]api.Entry)) == 1 }},
		{[]string{"version"}, &versionInfo{}, func(v any) bool { return v.(*versionInfo).Version == "v1.2.3-test" }},
		{[]string{"config", "get", "--config", file, "sip.register_limit"}, new(int), func(v any) bool { return *v.(*int) == 3 }},
		{[]string{"config", "get", "--config", file}, &map[string]map[string]any{}, func(v any) bool {
			return (*v.(*map[string]map[string]any))["ports"]["bridge"] == "br0"
		}},
	} {
		code, out, errOut := run(t, append(append([]string{"--api", sock}, c.args...), "--json")...)
		if code != 0 {
			t.Errorf("%v --json: %d %s", c.args, code, errOut)
			continue
		}
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c.into); err != nil || !c.ok(c.into) {
			t.Errorf("%v --json: %v\n%s", c.args, err, out)
		}
	}
}

func TestUnblockIsUnban(t *testing.T) {
	f := &fakeDaemon{}
	sock := serveFake(t, f)
	if code, out, errOut := run(t, "--api", sock, "unblock", "203.0.113.66"); code != 0 || !strings.Contains(out, "unbanned 1") {
		t.Fatalf("unblock: %d %s %s", code, out, errOut)
	}
	if want := []netip.Addr{netip.MustParseAddr("203.0.113.66")}; !reflect.DeepEqual(f.unbanned, want) {
		t.Errorf("the daemon unbanned %v, want %v", f.unbanned, want)
	}
}

func TestLedsButtonHalt(t *testing.T) {
	f := &fakeDaemon{}
	sock := serveFake(t, f)
	code, out, errOut := run(t, "--api", sock, "leds")
	if code != 0 {
		t.Fatalf("leds: %d %s", code, errOut)
	}
	for _, want := range []string{"simulated board (sim)", "attack", "amber steady", "faults:  wan-down", "lit:     R○ G○ B○ off"} {
		if !strings.Contains(out, want) {
			t.Errorf("leds lacks %q:\n%s", want, out)
		}
	}
	if code, out, _ := run(t, "--api", sock, "leds", "--json"); code != 0 || !strings.Contains(out, `"mode": "attack"`) {
		t.Errorf("leds --json: %d\n%s", code, out)
	}
	if code, out, errOut := run(t, "--api", sock, "button", "press", "--hold", "10s"); code != 0 || !strings.Contains(out, "pressed for 10s") {
		t.Errorf("button press: %d %s %s", code, out, errOut)
	}
	if code, _, _ := run(t, "--api", sock, "button", "press", "--hold", "2h"); code != 2 {
		t.Errorf("a two-hour press: exit %d, want 2", code)
	}
	if code, out, _ := run(t, "--api", sock, "poweroff"); code != 0 || !strings.Contains(out, "poweroff requested") {
		t.Errorf("poweroff: %d %s", code, out)
	}
	if !reflect.DeepEqual(f.presses, []time.Duration{10 * time.Second}) || !reflect.DeepEqual(f.halts, []string{"poweroff"}) {
		t.Errorf("presses %v halts %v", f.presses, f.halts)
	}
}

func TestFirmwareCommands(t *testing.T) {
	f := &fakeDaemon{tamper: []string{"cmdline.txt: altered"}}
	sock := serveFake(t, f)
	if code, out, _ := run(t, "--api", sock, "status"); code != 0 || !strings.Contains(out, "TAMPER WARNING") || !strings.Contains(out, "cmdline.txt: altered") {
		t.Errorf("status with a tamper warning: %d\n%s", code, out)
	}
	code, out, _ := run(t, "--api", sock, "firmware")
	if code != 0 || !strings.Contains(out, "TAMPER WARNING") || !strings.Contains(out, "cmdline.txt: altered") {
		t.Errorf("firmware: %d\n%s", code, out)
	}
	if code, out, _ := run(t, "--api", sock, "firmware", "ack"); code != 0 || f.acks != 1 || !strings.Contains(out, "acknowledged") {
		t.Errorf("firmware ack: %d %s", code, out)
	}
	bundle := filepath.Join(t.TempDir(), "x.bundle")
	_ = os.WriteFile(bundle, make([]byte, 123456), 0o600)
	code, out, errOut := run(t, "--api", sock, "update", bundle, "--reboot")
	if code != 0 || !strings.Contains(out, "installed v1.3.0 in slot b") || f.uploaded != 123456 || len(f.halts) != 1 || f.halts[0] != "reboot" {
		t.Errorf("update: %d %s %s (uploaded %d, halts %v)", code, out, errOut, f.uploaded, f.halts)
	}
	if code, _, errOut := run(t, "--api", sock, "update", filepath.Join(t.TempDir(), "missing.bundle")); code == 0 || !strings.Contains(errOut, "no such file") {
		t.Errorf("update of a missing file: %d %s", code, errOut)
	}
}

// Status says when the state file was moved aside, and which updates are
// not installed again.
func TestStatusStateFileAndRejectedUpdates(t *testing.T) {
	moved := "/data/state.db.corrupt-20260304T050607Z"
	f := &fakeDaemon{
		state: &api.StateFile{Path: "/data/state.db", Kept: true, MovedAside: moved, Problem: "damaged: invalid database",
			Note: "moved aside: damaged: invalid database, " + moved},
		rejected: []api.RejectedUpdate{{Version: "v1.3.0", Digest: "0123456789abcdef0123"}},
	}
	sock := serveFake(t, f)
	code, out, _ := run(t, "--api", sock, "status")
	if code != 0 || !strings.Contains(out, "STATE FILE: moved aside: damaged: invalid database, "+moved) {
		t.Errorf("status with a state file moved aside: %d\n%s", code, out)
	}
	if !strings.Contains(out, "Update v1.3.0 (manifest 0123456789ab) failed its trial: an update disk holding it is not installed from again") {
		t.Errorf("status with a rejected update:\n%s", out)
	}
	code, out, _ = run(t, "--api", sock, "status", "--json")
	if code != 0 || !strings.Contains(out, `"moved_aside": "`+moved+`"`) || !strings.Contains(out, `"rejected_updates"`) {
		t.Errorf("status --json: %d\n%s", code, out)
	}
	f.state, f.rejected = &api.StateFile{Path: "/data/state.db", Kept: true}, nil
	if _, out, _ = run(t, "--api", sock, "status"); strings.Contains(out, "STATE FILE") || strings.Contains(out, "State file") {
		t.Errorf("status with a good state file:\n%s", out)
	}
}

func TestGeoIPCommands(t *testing.T) {
	f := &fakeDaemon{}
	sock := serveFake(t, f)
	code, out, _ := run(t, "--api", sock, "geoip", "status")
	if code != 0 || !strings.Contains(out, "block CN, RU (3 networks in the kernel)") || !strings.Contains(out, "GeoLite2-Country, built 2026-11-20") {
		t.Errorf("geoip status: %d\n%s", code, out)
	}
	if code, out, _ := run(t, "--api", sock, "geoip", "update", "--json"); code != 0 || f.geoUpdates != 1 || !strings.Contains(out, `"mode": "block"`) {
		t.Errorf("geoip update --json: %d %d\n%s", code, f.geoUpdates, out)
	}
}

func TestFeedsCommands(t *testing.T) {
	f := &fakeDaemon{}
	sock := serveFake(t, f)
	code, out, _ := run(t, "--api", sock, "feeds", "status")
	if code != 0 || !strings.Contains(out, "voipbl") || !strings.Contains(out, "12345") || !strings.Contains(out, "2026-11-25 06:00") {
		t.Errorf("feeds status: %d\n%s", code, out)
	}
	if code, _, _ := run(t, "--api", sock, "feeds", "refresh", "voipbl", "--json"); code != 0 || len(f.refreshed) != 1 || f.refreshed[0] != "voipbl" {
		t.Errorf("feeds refresh: %d %v", code, f.refreshed)
	}
}

func TestNotifyCommands(t *testing.T) {
	f := &fakeDaemon{}
	sock := serveFake(t, f)
	if code, out, _ := run(t, "--api", sock, "notify", "status"); code != 0 || !strings.Contains(out, `"sent": 2`) {
		t.Errorf("notify status: %d\n%s", code, out)
	}
	if code, out, _ := run(t, "--api", sock, "notify", "test"); code != 0 || f.tests != 1 || !strings.Contains(out, "test message sent") {
		t.Errorf("notify test: %d %s", code, out)
	}
}
