package daemon

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// configBackend is a backend on a real configuration file whose reloads
// re-read it and are answered as Run answers them.
func configBackend(t *testing.T, text string) (*backend, string, *int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sipguard.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &backend{configFile: path, settings: make(chan settingsReq)}
	b.reread = func() (Config, error) {
		c, err := config.Load(path)
		return Config{Config: c}, err
	}
	applied := new(int)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case req := <-b.settings:
				*applied++
				req.done <- nil
			}
		}
	}()
	return b, path, applied
}

// A refused change leaves the file byte for byte as it was, with config
// set's message for the key; an accepted one is written 0600 and
// reloaded.
func TestSetConfigOnTheFile(t *testing.T) {
	text := "# the office box\n[sip]\nregister_limit = 7   # per minute\n"
	b, path, applied := configBackend(t, text)
	ctx := context.Background()
	_, err := b.SetConfig(ctx, []api.ConfigChange{{Key: "sip.invite_limit", Value: "9"}, {Key: "sip.register_limit", Value: "abc"}})
	var ce *api.ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, api.ErrBadRequest) || len(ce.Problems) != 1 {
		t.Fatalf("refused: %v", err)
	}
	_, setErr := config.Set([]byte(text), "sip.register_limit", "abc")
	if p := ce.Problems[0]; p.Key != "sip.register_limit" || p.Message != setErr.Error() {
		t.Errorf("problem %+v, config set says %v", p, setErr)
	}
	got, _ := os.ReadFile(path)
	if string(got) != text || *applied != 0 {
		t.Fatalf("the file changed: %q (%d reloads)", got, *applied)
	}
	res, err := b.SetConfig(ctx, []api.ConfigChange{{Key: "sip.register_limit", Value: "9"}, {Key: "sip.protocols", Value: "udp"}})
	if err != nil || !res.Applied || res.Changed != 2 || *applied != 1 {
		t.Fatalf("accepted: %+v %v (%d reloads)", res, err, *applied)
	}
	want, _ := config.Apply([]byte(text), config.Change{Key: "sip.register_limit", Value: "9"}, config.Change{Key: "sip.protocols", Value: "udp"})
	got, _ = os.ReadFile(path)
	if !bytes.Equal(got, want) {
		t.Errorf("file %q, want %q", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v %v", fi.Mode(), err)
	}
	cfg, err := b.Config(ctx)
	if err != nil || cfg.File != path || cfg.Text != string(want) || len(cfg.Keys) != len(config.Keys()) {
		t.Fatalf("config: %v %+v", err, cfg)
	}
	for _, k := range cfg.Keys {
		if k.Key == "sip.register_limit" && (k.Value != "9" || k.Default != "5" || k.Kind != "int") {
			t.Errorf("%+v", k)
		}
	}
	// Without a configuration file, nothing to change.
	if _, err := (&backend{}).SetConfig(ctx, []api.ConfigChange{{Key: "sip.register_limit", Value: "9"}}); !errors.Is(err, errNoConfig) {
		t.Errorf("no file: %v", err)
	}
}

// The attack log as the live feed and the chart read it.
func TestEventsAndActivity(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	if err := st.AppendEvents(store.Event{Time: now, Action: store.ActionBan, Source: netip.MustParsePrefix("203.0.113.7/32"), Reason: "flood", Country: "NL"},
		store.Event{Time: now, Action: store.ActionAlert, Source: netip.MustParsePrefix("2001:db8::/64"), Reason: "toll", Extension: "201"}); err != nil {
		t.Fatal(err)
	}
	b := &backend{state: st}
	evs, err := b.Events(context.Background(), api.EventsQuery{Limit: 10})
	if err != nil || len(evs) != 2 || evs[0].Source != "2001:db8::/64" || evs[1].Source != "203.0.113.7" || evs[1].Country != "NL" {
		t.Fatalf("%+v %v", evs, err)
	}
	if more, err := b.Events(context.Background(), api.EventsQuery{After: evs[1].ID, Limit: 10}); err != nil || len(more) != 1 || more[0].ID != evs[0].ID {
		t.Errorf("after: %+v %v", more, err)
	}
	if _, err := b.Events(context.Background(), api.EventsQuery{After: "x", Limit: 10}); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("bad ID: %v", err)
	}
	for _, step := range []string{api.StepHour, api.StepDay} {
		a, err := b.Activity(context.Background(), step)
		total := 0
		for _, bk := range a.Buckets {
			total += bk.Events
		}
		if err != nil || total != 2 || a.Today.Events != 2 || a.Today.Alerts != 1 {
			t.Errorf("%s: %+v %v", step, a, err)
		}
	}
}
