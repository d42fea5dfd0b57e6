package initd

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"
)

// Processes starts and signals child processes.
type Processes interface {
	Start(argv []string) (Child, error)
}

// Child is a started process.
type Child interface {
	PID() int
	Signal(syscall.Signal) error
	// Done is closed, after Status is set, when the process has exited and
	// been reaped.
	Done() <-chan struct{}
	Status() syscall.WaitStatus
}

// Backoff paces restarts of a service that keeps dying: the first restart
// comes after Min, each quick death doubles the delay up to Max, and a run
// longer than Stable starts again from Min.
type Backoff struct {
	Min, Max, Stable time.Duration
}

// Next is the delay before the next start, after a run that lasted ran
// and a previous delay of prev (0 for none).
func (b Backoff) Next(prev, ran time.Duration) time.Duration {
	if prev == 0 || ran >= b.Stable {
		return b.Min
	}
	return min(prev*2, b.Max)
}

// Supervisor keeps one service running: it restarts it when it dies, and
// stops it (SIGTERM, then SIGKILL after Grace) when its context ends.
type Supervisor struct {
	Argv    []string
	Procs   Processes
	Backoff Backoff
	Grace   time.Duration
	Log     *slog.Logger

	mu       sync.Mutex
	child    Child
	started  time.Time
	restarts int
}

// Running reports whether the service process is up.
func (s *Supervisor) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.child != nil
}

// Restarts is how many times the service was started again after dying.
func (s *Supervisor) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// Starting reports whether the service started less than the back-off's
// Stable time ago: it may still be loading its state, so failing health
// checks do not count yet.
func (s *Supervisor) Starting(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.child != nil && now.Sub(s.started) < s.Backoff.Stable
}

// Run supervises until ctx ends, then stops the service and returns.
func (s *Supervisor) Run(ctx context.Context) {
	var delay time.Duration
	for {
		start := time.Now()
		c, err := s.Procs.Start(s.Argv)
		if err != nil {
			s.Log.Error("service did not start", "err", err)
		} else {
			s.mu.Lock()
			s.child, s.started = c, start
			s.mu.Unlock()
			s.Log.Info("service started", "pid", c.PID())
			select {
			case <-c.Done():
			case <-ctx.Done():
				s.stop(c)
				return
			}
			s.mu.Lock()
			s.child = nil
			s.restarts++
			s.mu.Unlock()
		}
		delay = s.Backoff.Next(delay, time.Since(start))
		s.Log.Error("service died; the bridge and bans stay in force; restarting", "status", describeStatus(c), "in", delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
	}
}

func (s *Supervisor) stop(c Child) {
	if err := c.Signal(syscall.SIGTERM); err != nil {
		s.Log.Error("stopping the service", "err", err)
	}
	select {
	case <-c.Done():
		s.Log.Info("service stopped", "status", describeStatus(c))
	case <-time.After(s.Grace):
		s.Log.Error("service did not stop in time: killed", "grace", s.Grace)
		_ = c.Signal(syscall.SIGKILL)
		<-c.Done()
	}
	s.mu.Lock()
	s.child = nil
	s.mu.Unlock()
}

func describeStatus(c Child) string {
	if c == nil {
		return "not started"
	}
	ws := c.Status()
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit code %d", ws.ExitStatus())
	case ws.Signaled():
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("status %#x", ws)
}
