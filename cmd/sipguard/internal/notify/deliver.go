package notify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// message is one notification, rendered for every channel.
type message struct {
	kind    string // "alerts", "summary" or "test"
	subject string
	text    string
	html    string // empty: plain text only
	payload WebhookPayload
	created time.Time
}

// ChannelStatus is the delivery state of one channel (mail or webhook).
type ChannelStatus struct {
	Enabled     bool      `json:"enabled"`
	Sent        int       `json:"sent"`
	LastSent    time.Time `json:"last_sent,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Queued      int       `json:"queued"`  // waiting, the one being tried included
	Retries     int       `json:"retries"` // failed tries that were retried
	Failed      int       `json:"failed"`  // given up after the last attempt or at the age limit
	Dropped     int       `json:"dropped"` // pushed out of a full queue
}

// channel delivers the messages of one kind of target, one at a time and
// in order, retrying each with exponential back-off.
type channel struct {
	name  string
	send  func(context.Context, *message) error
	clock Clock
	cfg   Settings
	log   *slog.Logger

	mu     sync.Mutex
	queue  []*message
	status ChannelStatus
	wake   chan struct{}
}

func newChannel(name string, cfg Settings, clock Clock, log *slog.Logger, send func(context.Context, *message) error) *channel {
	return &channel{name: name, send: send, clock: clock, cfg: cfg, log: log, wake: make(chan struct{}, 1),
		status: ChannelStatus{Enabled: true}}
}

// enqueue adds m without blocking; a full queue drops its oldest message
// that is not being tried.
func (c *channel) enqueue(m *message) {
	c.mu.Lock()
	if len(c.queue) >= c.cfg.Queue {
		if len(c.queue) > 1 {
			c.queue = slices.Delete(c.queue, 1, 2)
		} else {
			c.queue = c.queue[:0]
		}
		c.status.Dropped++
	}
	c.queue = append(c.queue, m)
	c.status.Queued = len(c.queue)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *channel) snapshot() ChannelStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// run delivers until ctx ends.
func (c *channel) run(ctx context.Context) {
	for {
		c.mu.Lock()
		var m *message
		if len(c.queue) > 0 {
			m = c.queue[0]
		}
		c.mu.Unlock()
		if m == nil {
			select {
			case <-ctx.Done():
				return
			case <-c.wake:
				continue
			}
		}
		if !c.deliver(ctx, m) {
			return
		}
		c.mu.Lock()
		if len(c.queue) > 0 && c.queue[0] == m {
			c.queue = c.queue[1:]
		}
		c.status.Queued = len(c.queue)
		c.mu.Unlock()
	}
}

// deliver tries m until it is sent or given up; false when ctx ended.
func (c *channel) deliver(ctx context.Context, m *message) bool {
	wait := c.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		err := c.send(ctx, m)
		now := c.clock.Now()
		if ctx.Err() != nil {
			return false
		}
		c.mu.Lock()
		if err == nil {
			c.status.Sent++
			c.status.LastSent = now
			c.mu.Unlock()
			return true
		}
		c.status.LastError = err.Error()
		c.status.LastErrorAt = now
		giveUp := attempt >= c.cfg.Attempts || now.Add(wait).Sub(m.created) > c.cfg.MaxAge
		if giveUp {
			c.status.Failed++
		} else {
			c.status.Retries++
		}
		c.mu.Unlock()
		if giveUp {
			c.log.Warn("notification given up", "channel", c.name, "kind", m.kind, "attempts", attempt, "err", err)
			return true
		}
		c.log.Info("notification failed, will retry", "channel", c.name, "kind", m.kind, "attempt", attempt, "in", wait, "err", err)
		t := c.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C():
		}
		wait = min(2*wait, c.cfg.RetryMax)
	}
}

// errorf wraps a send error with the channel and message kind.
func errorf(channel string, m *message, err error) error {
	return fmt.Errorf("%s %s: %w", channel, m.kind, err)
}
