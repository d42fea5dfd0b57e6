package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// extraBackend serves the configuration and the attack log's feed too.
type extraBackend struct {
	*fakeBackend
	changes [][]ConfigChange
	queries []EventsQuery
	steps   []string
}

func (e *extraBackend) Config(context.Context) (Config, error) {
	return Config{File: "/data/sipguard.toml", Text: "[sip]\nregister_limit = 7\n", Keys: []ConfigKey{{Key: "sip.register_limit", Kind: "int", Default: "5", Value: "7"}}}, nil
}

func (e *extraBackend) SetConfig(_ context.Context, cs []ConfigChange) (ConfigResult, error) {
	for _, c := range cs {
		if c.Value == "abc" {
			return ConfigResult{}, ConfigErrorOf(errors.Join(fmt.Errorf("%s: %q is not a whole number", c.Key, c.Value),
				errors.New("sip.protocols[1]: \"sctp\" is not udp or tcp")))
		}
	}
	e.changes = append(e.changes, cs)
	return ConfigResult{Changed: len(cs), Applied: true}, nil
}

func (e *extraBackend) Events(_ context.Context, q EventsQuery) ([]Event, error) {
	e.queries = append(e.queries, q)
	if q.After == "bad" {
		return nil, fmt.Errorf("%w: \"bad\" is not an event ID", ErrBadRequest)
	}
	return []Event{{ID: "00aa", Action: "ban", Source: "203.0.113.7"}}, nil
}

func (e *extraBackend) Activity(_ context.Context, step string) (Activity, error) {
	e.steps = append(e.steps, step)
	return Activity{Step: step, Buckets: []Bucket{{Label: "10:00", Events: 3, Bans: 2, Alerts: 1}}, Today: Bucket{Events: 4}}, nil
}

func TestConfigThroughTheAPI(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	b := &extraBackend{fakeBackend: &fakeBackend{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = Serve(ctx, sock, b, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	c := Client{Socket: sock}
	var cfg Config
	var err error
	for range 100 {
		if cfg, err = c.Config(ctx); !errors.Is(err, ErrNoDaemon) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || cfg.File != "/data/sipguard.toml" || len(cfg.Keys) != 1 || cfg.Keys[0].Value != "7" || cfg.Keys[0].Default != "5" {
		t.Fatalf("config: %+v %v", cfg, err)
	}
	res, err := c.SetConfig(ctx, []ConfigChange{{Key: "sip.register_limit", Value: "9"}})
	if err != nil || !res.Applied || res.Changed != 1 || len(b.changes) != 1 || b.changes[0][0].Value != "9" {
		t.Errorf("set: %+v %v %v", res, err, b.changes)
	}
	_, err = c.SetConfig(ctx, []ConfigChange{{Key: "sip.register_limit", Value: "abc"}})
	if err == nil || !strings.Contains(err.Error(), `sip.register_limit: "abc" is not a whole number`) || len(b.changes) != 1 {
		t.Errorf("refused: %v", err)
	}
	// The refusal names each key, for a page to show the message next to
	// it.
	h := Handler(b)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/config", strings.NewReader(`{"changes":[{"key":"sip.register_limit","value":"abc"}]}`)))
	var body struct {
		Error    string          `json:"error"`
		Problems []ConfigProblem `json:"problems"`
	}
	if err := json.NewDecoder(w.Body).Decode(&body); err != nil || w.Code != http.StatusBadRequest {
		t.Fatalf("%d %v", w.Code, err)
	}
	want := []ConfigProblem{{Key: "sip.register_limit", Message: `sip.register_limit: "abc" is not a whole number`}, {Key: "sip.protocols", Message: `sip.protocols[1]: "sctp" is not udp or tcp`}}
	if fmt.Sprint(body.Problems) != fmt.Sprint(want) {
		t.Errorf("problems %+v, want %+v", body.Problems, want)
	}
	for _, bad := range []string{`{"changes":[]}`, `{"changes":[{"key":"a","value":"b","x":1}]}`} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/config", strings.NewReader(bad)))
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, w.Code)
		}
	}
	if len(b.changes) != 1 {
		t.Errorf("refused requests changed the file: %v", b.changes)
	}
}

func TestEventsThroughTheAPI(t *testing.T) {
	b := &extraBackend{fakeBackend: &fakeBackend{}}
	srv := httptest.NewServer(Handler(b))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/v1/events?after=00a0&limit=5"); code != http.StatusOK || !strings.Contains(body, `"id":"00aa"`) {
		t.Errorf("events: %d %s", code, body)
	}
	if q := b.queries[0]; q.After != "00a0" || q.Limit != 5 {
		t.Errorf("query %+v", q)
	}
	for _, bad := range []string{"/v1/events?limit=0", "/v1/events?limit=1001", "/v1/events?since=1h", "/v1/events?after=bad", "/v1/activity?step=week"} {
		if code, _ := get(bad); code != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, code)
		}
	}
	if code, body := get("/v1/activity?step=day"); code != http.StatusOK || !strings.Contains(body, `"step":"day"`) || !strings.Contains(body, `"bans":2`) {
		t.Errorf("activity: %d %s", code, body)
	}
	if code, _ := get("/v1/activity"); code != http.StatusOK || b.steps[len(b.steps)-1] != StepHour {
		t.Errorf("default step: %d %v", code, b.steps)
	}
	// A backend without them serves neither.
	plain := httptest.NewServer(Handler(&fakeBackend{}))
	defer plain.Close()
	resp, err := http.Get(plain.URL + "/v1/config")
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("plain backend: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}
