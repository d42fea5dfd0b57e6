package web

import (
	"net/netip"
	"sync"
	"time"
)

// Login limits: MaxFailures failed logins from one source within
// FailureWindow lock that source out for LockOut; MaxGlobalFailures from
// all sources together within FailureWindow lock out every source for
// LockOut, so that guessing spread over many addresses gets few tries
// too.
const (
	MaxFailures       = 5
	FailureWindow     = 15 * time.Minute
	LockOut           = 15 * time.Minute
	MaxGlobalFailures = 30
)

// maxTracked bounds the sources whose failures are remembered; beyond,
// the oldest are forgotten.
const maxTracked = 4096

// limiter counts failed logins per source and over all.
type limiter struct {
	mu      sync.Mutex
	now     func() time.Time
	sources map[netip.Addr]*failures
	global  failures
}

type failures struct {
	times  []time.Time // within FailureWindow
	locked time.Time   // locked out until
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, sources: map[netip.Addr]*failures{}}
}

// lockedUntil says until when src may not try: the zero time if it may.
func (l *limiter) lockedUntil(src netip.Addr) time.Time {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	until := time.Time{}
	if l.global.locked.After(now) {
		until = l.global.locked
	}
	if f := l.sources[src]; f != nil && f.locked.After(now) && f.locked.After(until) {
		until = f.locked
	}
	return until
}

// fail counts a failed login of src, and reports whether it locked src
// out (source), or everyone (global).
func (l *limiter) fail(src netip.Addr) (source, global bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.sources[src]
	if f == nil {
		if len(l.sources) >= maxTracked {
			l.forget(now)
		}
		f = &failures{}
		l.sources[src] = f
	}
	if f.add(now, MaxFailures) {
		source = true
	}
	if l.global.add(now, MaxGlobalFailures) {
		global = true
	}
	return source, global
}

// add counts a failure at now, and locks out at max failures.
func (f *failures) add(now time.Time, max int) bool {
	kept := f.times[:0]
	for _, t := range f.times {
		if now.Sub(t) < FailureWindow {
			kept = append(kept, t)
		}
	}
	f.times = append(kept, now)
	if len(f.times) >= max && !f.locked.After(now) {
		f.locked = now.Add(LockOut)
		f.times = nil
		return true
	}
	return false
}

// succeed forgets src's failures.
func (l *limiter) succeed(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.sources[src]; f != nil && !f.locked.After(l.now()) {
		delete(l.sources, src)
	}
}

// forget drops the sources with nothing current, or the oldest half;
// l.mu held.
func (l *limiter) forget(now time.Time) {
	for a, f := range l.sources {
		if !f.locked.After(now) && (len(f.times) == 0 || now.Sub(f.times[len(f.times)-1]) >= FailureWindow) {
			delete(l.sources, a)
		}
	}
	for a := range l.sources { // map order: an arbitrary half
		if len(l.sources) < maxTracked/2 {
			break
		}
		delete(l.sources, a)
	}
}
