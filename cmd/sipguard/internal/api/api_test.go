package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fakeBackend struct{ unbanned []netip.Addr }

func (f *fakeBackend) Status(context.Context) (Status, error) {
	return Status{Lists: map[string]ListSize{"allow": {IPv4: 2}}, Sources: 7}, nil
}

func (f *fakeBackend) Check(_ context.Context, a netip.Addr) (Check, error) {
	return Check{Address: a.String()}, nil
}

func (f *fakeBackend) List(context.Context, string) ([]Entry, error)           { return nil, nil }
func (f *fakeBackend) Add(_ context.Context, _ string, e []Entry) (int, error) { return len(e), nil }
func (f *fakeBackend) Remove(context.Context, string, []netip.Prefix, bool) (int, error) {
	return 0, nil
}

func (f *fakeBackend) Unban(_ context.Context, a []netip.Addr) (int, error) {
	f.unbanned = append(f.unbanned, a...)
	return len(a), nil
}

func TestServeAndClient(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	b := &fakeBackend{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Serve(ctx, sock, b, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	c := Client{Socket: sock}
	var st Status
	var err error
	for range 100 { // wait for the socket
		if st, err = c.Status(context.Background()); !errors.Is(err, ErrNoDaemon) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || st.Sources != 7 || st.Lists["allow"].IPv4 != 2 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if n, err := c.Unban(context.Background(), []string{"203.0.113.66", "2001:db8::1"}); err != nil || n != 2 {
		t.Errorf("Unban = %d, %v", n, err)
	}
	// Bad input is refused with its reason and changes nothing.
	if _, err := c.Unban(context.Background(), []string{"203.0.113.66", "not-an-ip"}); err == nil || !strings.Contains(err.Error(), "addresses[1]") {
		t.Errorf("bad address: %v", err)
	}
	if _, err := c.Add(context.Background(), "allow", []Entry{{Prefix: "198.51.100.0/24"}, {Prefix: "198.51.100.7/24"}}); err == nil || !strings.Contains(err.Error(), "entries[1]") {
		t.Errorf("an entry with host bits was accepted: %v", err)
	}
	if _, err := c.Add(context.Background(), "gray", []Entry{{Prefix: "198.51.100.0/24"}}); err == nil || !strings.Contains(err.Error(), "no list") {
		t.Errorf("unknown list: %v", err)
	}
	if ch, err := c.Check(context.Background(), "::ffff:203.0.113.66"); err != nil || ch.Address != "203.0.113.66" {
		t.Errorf("Check = %+v, %v", ch, err)
	}
	if _, err := c.Check(context.Background(), "example.com"); err == nil {
		t.Error("Check accepted a name")
	}
	if len(b.unbanned) != 2 {
		t.Errorf("backend saw %v", b.unbanned)
	}
	// A second daemon on the same socket is refused.
	if err := Serve(context.Background(), sock, b, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("two daemons on one socket")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("after shutdown: %v", err)
	}
}
