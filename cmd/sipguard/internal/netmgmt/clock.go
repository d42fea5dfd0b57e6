package netmgmt

import (
	"context"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// Floor is the earliest build time a firmware can claim: a clock before it
// is wrong whatever the build says.
var Floor = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// clockCheck is how often a waiter looks at the wall clock again, in case
// something other than NTP set it.
const clockCheck = 10 * time.Second

// Clock says whether the wall clock can be trusted: once NTP has set it,
// or while it reads later than the firmware's build time.
type Clock struct {
	build time.Time
	now   func() time.Time
	log   *slog.Logger

	synced     chan struct{} // closed by the first NTP sync
	syncOnce   sync.Once
	waitLogged sync.Once
}

// NewClock returns the clock of a firmware built at build (times before
// [Floor] count as Floor); log takes the one line said while something
// waits. now is the wall clock (nil: time.Now).
func NewClock(build time.Time, now func() time.Time, log *slog.Logger) *Clock {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if build.Before(Floor) {
		build = Floor
	}
	return &Clock{build: build, now: now, log: log, synced: make(chan struct{})}
}

// buildEpoch is the build's time in Unix seconds, set by the linker
// (-X …/netmgmt.buildEpoch=$(EPOCH), as the Makefile does).
var buildEpoch string

// BuildTime is when the running binary was built: the linker's buildEpoch,
// or else the commit time the Go toolchain records (vcs.time); zero when
// neither is known.
func BuildTime() time.Time {
	if s, err := strconv.ParseInt(buildEpoch, 10, 64); err == nil && s > 0 {
		return time.Unix(s, 0).UTC()
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return time.Time{}
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.time" {
			t, _ := time.Parse(time.RFC3339, s.Value)
			return t
		}
	}
	return time.Time{}
}

// Plausible reports whether the wall clock can be trusted now.
func (c *Clock) Plausible() bool {
	select {
	case <-c.synced:
		return true
	default:
		return c.now().After(c.build)
	}
}

// Synced reports whether NTP has set or confirmed the clock.
func (c *Clock) Synced() bool {
	select {
	case <-c.synced:
		return true
	default:
		return false
	}
}

// markSynced records that NTP set or confirmed the clock.
func (c *Clock) markSynced() { c.syncOnce.Do(func() { close(c.synced) }) }

// Wait returns once the time is plausible, or with ctx's error when ctx
// ends first. The first wait of all says so in the log, once.
func (c *Clock) Wait(ctx context.Context) error {
	if c.Plausible() {
		return nil
	}
	c.waitLogged.Do(func() {
		c.log.Info("waiting for the clock (NTP)", "now", c.now().UTC().Format(time.RFC3339), "build", c.build.UTC().Format(time.RFC3339))
	})
	t := time.NewTicker(clockCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.synced:
			return nil
		case <-t.C:
			if c.Plausible() {
				return nil
			}
		}
	}
}
