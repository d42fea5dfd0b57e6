package netmgmt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/beevik/ntp"
)

// The NTP client's schedule and limits.
const (
	// StepThreshold is the largest offset left as it is: a clock off by
	// more is stepped. Less is within what the box's uses of time care
	// about (certificates, schedules, the attack log).
	StepThreshold = time.Second
	// Resync is how often a synced clock is checked again.
	Resync = time.Hour
	// queryTimeout bounds one server's answer.
	queryTimeout = 5 * time.Second
	// retryMin and retryMax bound the back-off after a round in which no
	// server answered.
	retryMin = 2 * time.Second
	retryMax = 5 * time.Minute
)

// DefaultServers are the time servers asked when the configuration names
// none: the NTP pool's.
var DefaultServers = []string{"0.pool.ntp.org", "1.pool.ntp.org", "2.pool.ntp.org", "3.pool.ntp.org"}

// Stepper sets the system clock.
type Stepper interface {
	// Step moves the wall clock by offset.
	Step(offset time.Duration) error
}

// Querier asks one NTP server (a host name or address, with an optional
// port) for the time.
type Querier func(ctx context.Context, server string) (*ntp.Response, error)

// QueryNTP asks server with the beevik/ntp client, bounded by a timeout.
func QueryNTP(ctx context.Context, server string) (*ntp.Response, error) {
	opts := ntp.QueryOptions{Timeout: queryTimeout}
	if d, ok := ctx.Deadline(); ok {
		opts.Timeout = min(opts.Timeout, time.Until(d))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ntp.QueryWithOptions(server, opts)
}

// NTPStatus is the state of the clock's synchronization.
type NTPStatus struct {
	// Synced is true once a server answered and the clock agrees with it
	// (after a step, if it needed one).
	Synced bool
	// Server is the server of the last sync; Offset how far the clock
	// was from it then; Stepped whether that sync stepped the clock.
	Server  string
	Offset  time.Duration
	Stepped bool
	// LastSync is when the last sync succeeded; LastError why the last
	// round failed (empty once one succeeds again).
	LastSync  time.Time
	LastError string
}

// syncer keeps the clock set by NTP.
type syncer struct {
	clock   *Clock
	query   Querier
	servers func() []string
	log     *slog.Logger
	kick    chan struct{} // new servers: sync now (buffered, 1)

	mu   sync.Mutex
	step Stepper // nil: the clock is only compared, never set
	st   NTPStatus
}

// setStep changes how the clock is set from the next sync on.
func (s *syncer) setStep(step Stepper) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step = step
}

func (s *syncer) status() NTPStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// run syncs at once, then every Resync, retrying a failed round with
// back-off, until ctx ends.
func (s *syncer) run(ctx context.Context) {
	backoff := retryMin
	for {
		wait := Resync
		if err := s.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			level := slog.LevelDebug
			if backoff == retryMin && !errors.Is(err, errNoServers) {
				level = slog.LevelWarn // the first failure of a run of them
			}
			s.log.Log(ctx, level, "clock not synced", "err", err, "retry", backoff)
			wait, backoff = backoff, min(2*backoff, retryMax)
		} else {
			backoff = retryMin
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.kick:
			t.Stop()
			backoff = retryMin
		case <-t.C:
		}
	}
}

// newServers makes the next sync happen now: a lease named time servers.
func (s *syncer) newServers() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// errNoServers is a round with nothing to ask.
var errNoServers = errors.New("no time server: none configured and none from DHCP")

// sync asks the servers in turn and takes the first valid answer: it steps
// the clock when it is off by more than StepThreshold.
func (s *syncer) sync(ctx context.Context) error {
	servers := s.servers()
	if len(servers) == 0 {
		s.failed(errNoServers)
		return errNoServers
	}
	var errs []error
	for _, srv := range servers {
		err := s.syncWith(ctx, srv)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	s.failed(err)
	return err
}

func (s *syncer) syncWith(ctx context.Context, server string) error {
	resp, err := s.query(ctx, server)
	if err != nil {
		return fmt.Errorf("%s: %w", server, err)
	}
	if err := resp.Validate(); err != nil {
		return fmt.Errorf("%s: %w", server, err)
	}
	offset, stepped := resp.ClockOffset, false
	s.mu.Lock()
	step := s.step
	s.mu.Unlock()
	if offset > StepThreshold || offset < -StepThreshold {
		if step == nil {
			return fmt.Errorf("%s: the clock is off by %v and setting it is off (management.set_clock)", server, offset)
		}
		if err := step.Step(offset); err != nil {
			return fmt.Errorf("%s: step the clock by %v: %w", server, offset, err)
		}
		stepped = true
		s.log.Warn("clock stepped by NTP", "server", server, "offset", offset)
	}
	s.mu.Lock()
	first := !s.st.Synced || s.st.Server != server
	s.st = NTPStatus{Synced: true, Server: server, Offset: offset, Stepped: stepped, LastSync: time.Now()}
	s.mu.Unlock()
	s.clock.markSynced()
	if first {
		s.log.Info("clock synced by NTP", "server", server, "offset", offset, "stratum", resp.Stratum)
	}
	return nil
}

func (s *syncer) failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.LastError = err.Error()
}
