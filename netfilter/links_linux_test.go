package netfilter

import (
	"context"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// Pulling the modem's cable (the wan host's end of the veth going down) is
// seen on the box's wan port, and so is plugging it back.
func TestWatchLinks(t *testing.T) {
	box := newTestBox(t, Defaults())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type change struct {
		port string
		up   bool
	}
	changes := make(chan change, 16)
	errc := make(chan error, 1)
	go func() {
		errc <- WatchLinks(ctx, []string{netlab.WANPort, netlab.LANPort}, func(p string, up bool) { changes <- change{p, up} }, WithNetNS(box.Box.Fd()))
	}()
	next := func() change {
		t.Helper()
		select {
		case c := <-changes:
			return c
		case err := <-errc:
			t.Fatalf("WatchLinks ended: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("no link change reported")
		}
		return change{}
	}
	first := map[string]bool{}
	for range 2 {
		c := next()
		first[c.port] = c.up
	}
	if !first[netlab.WANPort] || !first[netlab.LANPort] {
		t.Fatalf("initial states %v, want both up", first)
	}
	ip := func(args ...string) {
		t.Helper()
		if err := netlab.IP(context.Background(), append([]string{"-n", box.WAN.Name}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	ip("link", "set", netlab.HostIf, "down")
	if c := next(); c != (change{netlab.WANPort, false}) {
		t.Errorf("after unplugging the modem: %+v", c)
	}
	ip("link", "set", netlab.HostIf, "up")
	if c := next(); c != (change{netlab.WANPort, true}) {
		t.Errorf("after plugging it back: %+v", c)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("WatchLinks: %v", err)
	}
}
