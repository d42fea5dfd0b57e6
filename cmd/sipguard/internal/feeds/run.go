package feeds

import (
	"context"
	"math/rand/v2"
	"time"
)

// Run refreshes every enabled feed at once, then each at its interval
// (spread by the jitter), retrying a failed feed sooner with a doubling
// delay. It calls onChange (if not nil) after a refresh that changed a
// feed's content; the caller then loads All into the kernel. Feeds are
// refreshed one at a time. Run returns when ctx is done.
func (m *Manager) Run(ctx context.Context, onChange func()) error {
	next := map[*feed]time.Time{}
	for {
		now := time.Now()
		m.mu.Lock()
		var due *feed
		live := map[*feed]bool{}
		for _, f := range m.feeds {
			if !f.Enabled {
				continue
			}
			live[f] = true
			if _, ok := next[f]; !ok {
				next[f] = now
			}
			f.st.NextRefresh = m.opts.Now().Add(next[f].Sub(now))
			if due == nil || next[f].Before(next[due]) {
				due = f
			}
		}
		m.mu.Unlock()
		for f := range next {
			if !live[f] {
				delete(next, f)
			}
		}

		var wake <-chan time.Time
		var t *time.Timer
		if due != nil {
			t = time.NewTimer(time.Until(next[due]))
			wake = t.C
		}
		woke := false
		select {
		case <-ctx.Done():
		case <-m.kick:
		case <-wake:
			woke = true
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
		if !woke {
			continue
		}

		changed, more, err := m.refresh(ctx, due)
		if ctx.Err() != nil {
			return nil
		}
		m.mu.Lock()
		fails, interval := due.st.Failures, due.interval()
		m.mu.Unlock()
		if err == nil {
			fails = 0
		}
		next[due] = time.Now().Add(m.delay(interval, fails, more))
		if changed && onChange != nil {
			onChange()
		}
	}
}

// delay is the time to the next refresh of a feed: its interval; soon
// when APIBAN has more pages; or, after failures in a row, RetryMin doubled
// per further failure up to the interval. The jitter spreads it either way.
func (m *Manager) delay(interval time.Duration, failures int, more bool) time.Duration {
	d := interval
	if more {
		d = min(m.opts.APIBANMoreDelay, interval)
	}
	if failures > 0 {
		d = m.opts.RetryMin
		for i := 1; i < failures && d < interval; i++ {
			d *= 2
		}
		d = min(d, interval)
	}
	if m.opts.Jitter > 0 {
		r := rand.Float64
		if m.opts.Rand != nil {
			r = m.opts.Rand
		}
		d += time.Duration(float64(d) * m.opts.Jitter * (2*r() - 1))
	}
	return d
}
