package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"
	"github.com/sipguard/sipguard/netfilter"
)

// blocklists keeps the kernel's feed set loaded from the global
// blocklists.
type blocklists struct {
	log *slog.Logger
	fw  *netfilter.Firewall
	m   *feeds.Manager
}

func newBlocklists(list []feeds.Feed, fw *netfilter.Firewall, log *slog.Logger) (*blocklists, error) {
	m, err := feeds.New(list, feeds.Options{})
	if err != nil {
		return nil, fmt.Errorf("feeds: %w", err)
	}
	return &blocklists{log: log, fw: fw, m: m}, nil
}

// load puts the feeds' merged content in the kernel, in one swap.
func (b *blocklists) load() {
	start := time.Now()
	v4, v6, err := b.fw.ReplaceSource(netfilter.Feeds, b.m.All())
	if err != nil {
		b.log.Error("blocklists not loaded; the previous ones stay", "err", err)
		return
	}
	b.log.Info("blocklists loaded", "ipv4", v4, "ipv6", v6, "took", time.Since(start).Round(time.Millisecond))
}

func (b *blocklists) run(ctx context.Context) error {
	if err := b.m.Run(ctx, b.load); err != nil && ctx.Err() == nil {
		b.log.Error("blocklist refreshes stopped", "err", err)
	}
	return nil
}

// configure follows a new configuration's feed list.
func (b *blocklists) configure(list []feeds.Feed) error {
	if err := b.m.SetFeeds(list); err != nil {
		return fmt.Errorf("feeds: %w", err)
	}
	b.load()
	return nil
}

// refresh refreshes one feed, or all when name is empty, now.
func (b *blocklists) refresh(ctx context.Context, name string) ([]feeds.Status, error) {
	var names []string
	if name != "" {
		names = []string{name}
	} else {
		for _, s := range b.m.Status() {
			if s.Enabled {
				names = append(names, s.Name)
			}
		}
	}
	changed := false
	var firstErr error
	for _, n := range names {
		c, err := b.m.Refresh(ctx, n)
		switch {
		case errors.Is(err, feeds.ErrUnknownFeed):
			return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
		case err != nil && firstErr == nil:
			firstErr = err
		}
		changed = changed || c
	}
	if changed {
		b.load()
	}
	return b.m.Status(), firstErr
}
