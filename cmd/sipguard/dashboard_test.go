package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// The dashboard's endpoints on the running daemon: configuration changes
// checked as config set checks them (a refused one leaves the file's very
// bytes), applied live or said to wait for a restart; a scanner's ban in
// the live feed and in today's count.
func TestDashboardEndpoints(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	dir := t.TempDir()
	sock, state, conf := filepath.Join(dir, "api.sock"), filepath.Join(dir, "state.db"), filepath.Join(dir, "sipguard.toml")
	const text = "# the office box\n[sip]\nregister_limit = 5 # five a minute\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, lab, bin, "--api", sock, "--state", state, "--config", conf)
	ctx := context.Background()
	c := api.Client{Socket: sock}

	_, err := c.SetConfig(ctx, []api.ConfigChange{{Key: "sip.invite_limit", Value: "7"}, {Key: "sip.register_limit", Value: "abc"}})
	_, setErr := config.Set([]byte(text), "sip.register_limit", "abc")
	if err == nil || !strings.Contains(err.Error(), setErr.Error()) {
		t.Errorf("refused change: %v, want %q", err, setErr)
	}
	if got, _ := os.ReadFile(conf); string(got) != text {
		t.Fatalf("a refused change wrote the file:\n%s", got)
	}
	res, err := c.SetConfig(ctx, []api.ConfigChange{{Key: "sip.register_limit", Value: "9"}})
	if err != nil || !res.Applied {
		t.Fatalf("change: %+v %v", res, err)
	}
	if got := strings.TrimSpace(sipguard(t, lab, bin, "--api", sock, "config", "get", "sip.register_limit")); got != "9" {
		t.Errorf("config get after the change: %s", got)
	}
	cfg, err := c.Config(ctx)
	if err != nil || cfg.File != conf || !strings.Contains(cfg.Text, "register_limit = 9 # five a minute") {
		t.Errorf("config: %v %s %q", err, cfg.File, cfg.Text)
	}
	if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("configuration file: %v %v, want 0600", fi.Mode(), err)
	}

	attack(t, lab, "svmap", "-b", netlab.Attacker4.String(), "-p", "5060", netlab.PBX4.String())
	var evs []api.Event
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if evs, err = c.Events(ctx, api.EventsQuery{Limit: 20}); err == nil && len(evs) > 0 {
			break
		}
	}
	if len(evs) == 0 || evs[0].Action != "ban" || evs[0].Source != netlab.Attacker4.String() || evs[0].ID == "" {
		t.Fatalf("events: %+v %v", evs, err)
	}
	if more, err := c.Events(ctx, api.EventsQuery{After: evs[0].ID}); err != nil || len(more) != 0 {
		t.Errorf("events after the newest: %+v %v", more, err)
	}
	for _, step := range []string{api.StepHour, api.StepDay} {
		a, err := c.Activity(ctx, step)
		if err != nil || a.Today.Bans < 1 || len(a.Buckets) == 0 || a.Buckets[len(a.Buckets)-1].Bans < 1 {
			t.Errorf("activity by %s: %+v %v", step, a, err)
		}
	}

	// A setting that changes only with a restart is written, and said not
	// applied.
	res, err = c.SetConfig(ctx, []api.ConfigChange{{Key: "ports.bridge", Value: "br9"}})
	if err != nil || res.Applied || !strings.Contains(res.NotApplied, "restart") {
		t.Errorf("bridge change: %+v %v", res, err)
	}
	if _, err := c.Events(ctx, api.EventsQuery{After: "not-an-id"}); err == nil || errors.Is(err, api.ErrNoDaemon) {
		t.Errorf("a bad event ID: %v", err)
	}
}
