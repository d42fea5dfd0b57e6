package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// eventsDaemon serves an attack log that grows by one event each time it
// is read after its newest.
type eventsDaemon struct {
	*fakeDaemon
	mu   sync.Mutex
	log  []api.Event // newest first
	asks []api.EventsQuery
	// stop is called when the log is read after its fourth event.
	stop func()
}

func (d *eventsDaemon) Events(_ context.Context, q api.EventsQuery) ([]api.Event, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asks = append(d.asks, q)
	if q.After == "0004" && d.stop != nil {
		d.stop()
		return nil, nil
	}
	if q.After != "" && q.After == d.log[0].ID {
		n := len(d.log) + 1
		d.log = append([]api.Event{{ID: fmt.Sprintf("%04d", n), Time: time.Date(2026, 12, 6, 5, n, 0, 0, time.UTC), Action: "alert", Source: "203.0.113.9", Reason: "toll fraud", Extension: "105"}}, d.log...)
		return d.log[:1], nil
	}
	return d.log[:min(q.Limit, len(d.log))], nil
}

func (d *eventsDaemon) Activity(context.Context, string) (api.Activity, error) {
	return api.Activity{}, nil
}

func newEventsDaemon() *eventsDaemon {
	return &eventsDaemon{fakeDaemon: &fakeDaemon{}, log: []api.Event{
		{ID: "0002", Time: time.Date(2026, 12, 6, 5, 2, 0, 0, time.UTC), Action: "ban", Source: "203.0.113.7", Reason: "register flood", Country: "NL", UserAgent: "friendly-scanner"},
		{ID: "0001", Time: time.Date(2026, 12, 6, 5, 1, 0, 0, time.UTC), Action: "permanent", Source: "198.51.100.0/24"},
	}}
}

func TestEvents(t *testing.T) {
	d := newEventsDaemon()
	sock := serveEvents(t, d)
	code, out, errOut := run(t, "--api", sock, "events")
	if code != 0 {
		t.Fatalf("events: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "permanent  198.51.100.0/24") || !strings.Contains(lines[1], "ban        203.0.113.7      register flood  NL  friendly-scanner  -") {
		t.Errorf("events, oldest first:\n%s", out)
	}
	if code, _, errOut := run(t, "--api", sock, "events", "--limit", "0"); code != 2 || !strings.Contains(errOut, "--limit 0") {
		t.Errorf("--limit 0: %d %s", code, errOut)
	}
}

// --follow prints each new event once, as it comes, until interrupted
// (here, when it asks for the events after the fourth).
func TestEventsFollow(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for two polls")
	}
	d := newEventsDaemon()
	sock := serveEvents(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d.stop = cancel
	var out, errb bytes.Buffer
	code := Main(ctx, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}, []string{"--api", sock, "events", "--follow", "--json"})
	if code != 0 {
		t.Fatalf("events --follow: %d %s", code, errb.String())
	}
	for _, id := range []string{`"id": "0001"`, `"id": "0002"`, `"id": "0003"`, `"id": "0004"`} {
		if strings.Count(out.String(), id) != 1 {
			t.Errorf("%s printed %d times:\n%s", id, strings.Count(out.String(), id), out.String())
		}
	}
	if ctx.Err() != context.Canceled || len(d.asks) != 4 || d.asks[1].After != "0002" || d.asks[2].After != "0003" {
		t.Errorf("asked %+v", d.asks)
	}
}

// serveEvents serves d's API on a socket, as serveFake serves a fakeDaemon.
func serveEvents(t *testing.T, d *eventsDaemon) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api.Handler(d))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}
