package crowdsec

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/sipguard/sipguard/sip"
)

// Event is a ban or an alert of the box, as the Agent pushes it.
type Event struct {
	Time   time.Time
	Action string       // ban, permanent or alert (sip.Action's names)
	Source netip.Prefix // the source banned: an address, or a network
	Addr   netip.Addr   // the address that sent the last packet
	Reason string       // sip.Reason's text
	// Duration is the ban's; 0 for an alert.
	Duration  time.Duration
	UserAgent string
	Extension string
	Country   string
}

// Scenarios the Agent reports, by the box's ban reasons.
var scenarios = map[string]string{
	sip.ReasonScanner.String():            "sipguard/sip-scanner",
	sip.ReasonRegisterBruteForce.String(): "sipguard/sip-bruteforce",
	sip.ReasonInviteBruteForce.String():   "sipguard/sip-bruteforce",
	sip.ReasonSlowBruteForce.String():     "sipguard/sip-bruteforce",
	sip.ReasonKnownGoodFailures.String():  "sipguard/sip-bruteforce",
	sip.ReasonFlood.String():              "sipguard/sip-flood",
	sip.ReasonHijack.String():             "sipguard/sip-hijack",
	sip.ReasonSlowGuessing.String():       "sipguard/sip-slow-guessing",
	sip.ReasonNetworkGuessing.String():    "sipguard/sip-network-guessing",
}

// Scenarios lists the scenarios the Agent can report, as it declares
// them at login.
func Scenarios() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range scenarios {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Scenario returns the scenario of a ban reason; "" for reasons that
// concern the office's own calls (toll fraud, a trunk's failures), which
// are not the fleet's business.
func Scenario(reason string) string { return scenarios[reason] }

// Agent bounds and pace.
const (
	inbox       = 1024            // events waiting for the Agent's loop
	MaxQueue    = 10000           // alerts kept while the LAPI is away
	batchSize   = 50              // alerts per push
	batchWindow = 2 * time.Second // the longest an alert waits for others
)

// AgentStatus is what the Agent reports.
type AgentStatus struct {
	// Link is the exchange with the LAPI; its last success is the last
	// batch it took.
	Link
	// Sent counts the alerts the LAPI took; Queued those waiting.
	Sent   uint64 `json:"sent"`
	Queued int    `json:"queued"`
	// Dropped counts the alerts lost to a full queue; Echoes the bans not
	// pushed because a decision of the LAPI already covered them;
	// Skipped the events that are not the fleet's business.
	Dropped uint64 `json:"dropped"`
	Echoes  uint64 `json:"echoes"`
	Skipped uint64 `json:"skipped"`
}

// AgentOptions are what an Agent needs beyond its settings.
type AgentOptions struct {
	Log     *slog.Logger
	Version string
	// Covered reports whether a LAPI decision already covers an address
	// (the Bouncer's Covers); nil: none does.
	Covered func(netip.Addr) bool
	Now     func() time.Time // nil: time.Now
	// MaxQueue bounds the queue; 0: MaxQueue.
	MaxQueue int
}

// Agent pushes the box's bans and alerts to the LAPI.
type Agent struct {
	c                 *client
	machine, password string
	o                 AgentOptions
	in                chan Event

	mu    sync.Mutex
	queue []alert
	st    AgentStatus
}

// NewAgent returns an Agent for s, which must be valid.
func NewAgent(s Settings, o AgentOptions) (*Agent, error) {
	c, err := newClient(s.URL, o.Version)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = MaxQueue
	}
	return &Agent{c: c, machine: s.MachineID, password: s.MachinePassword, o: o, in: make(chan Event, inbox),
		st: AgentStatus{Link: Link{State: StateStarting}}}, nil
}

// Push hands an event to the Agent; it never blocks: when the Agent lags
// that far behind, the event is dropped and counted.
func (a *Agent) Push(e Event) {
	select {
	case a.in <- e:
	default:
		a.mu.Lock()
		a.st.Dropped++
		a.mu.Unlock()
	}
}

// Run pushes the events until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	var (
		oldest  time.Time // when the oldest queued alert came
		retryAt time.Time // no push before, after a failure
		timer   = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	for {
		a.mu.Lock()
		n := len(a.queue)
		a.mu.Unlock()
		now := a.o.Now()
		due := n > 0 && !now.Before(retryAt) && (n >= batchSize || now.Sub(oldest) >= batchWindow)
		if due {
			if err := a.pushBatch(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				a.mu.Lock()
				wait := backoff(a.st.Failures)
				retryAt = a.o.Now().Add(wait)
				a.st.NextTry = retryAt
				f := a.st.Failures
				a.mu.Unlock()
				if f == 1 || f%10 == 0 {
					a.o.Log.Warn("crowdsec: alerts not pushed; kept in the queue", "err", err, "failures", f, "retry in", wait)
				}
			} else {
				retryAt = time.Time{}
				oldest = a.o.Now()
			}
			continue
		}
		wait := time.Hour
		if n > 0 {
			wait = max(time.Until(retryAt), oldest.Add(batchWindow).Sub(now), 10*time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case e := <-a.in:
			if al, ok := a.alertOf(e); ok {
				a.mu.Lock()
				if len(a.queue) == 0 {
					oldest = a.o.Now()
				}
				a.enqueueLocked(al)
				a.mu.Unlock()
			}
		case <-timer.C:
		}
	}
}

// enqueueLocked queues al, dropping the oldest alert when the queue is
// full.
func (a *Agent) enqueueLocked(al alert) {
	if len(a.queue) >= a.o.MaxQueue {
		a.queue = a.queue[1:]
		a.st.Dropped++
	}
	a.queue = append(a.queue, al)
}

// alertOf makes the alert of e; false when e is not pushed.
func (a *Agent) alertOf(e Event) (alert, bool) {
	sc := Scenario(e.Reason)
	if sc == "" || !e.Source.IsValid() {
		a.count(func(s *AgentStatus) { s.Skipped++ })
		return alert{}, false
	}
	if a.o.Covered != nil && a.o.Covered(e.Source.Addr()) {
		a.count(func(s *AgentStatus) { s.Echoes++ })
		return alert{}, false
	}
	return newAlert(e, sc, a.machine), true
}

func (a *Agent) count(f func(*AgentStatus)) {
	a.mu.Lock()
	f(&a.st)
	a.mu.Unlock()
}

// pushBatch pushes the oldest alerts of the queue, at most batchSize.
func (a *Agent) pushBatch(ctx context.Context) error {
	a.mu.Lock()
	batch := a.queue[:min(len(a.queue), batchSize)]
	a.mu.Unlock()
	err := a.push(ctx, batch)
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.o.Now()
	if err != nil {
		a.st.failed(err, now)
		return err
	}
	// Only Run changes the queue, and it waited for this push.
	a.queue = a.queue[len(batch):]
	a.st.Sent += uint64(len(batch))
	a.st.succeeded(now)
	return nil
}

func (a *Agent) push(ctx context.Context, alerts []alert) error {
	for try := 0; ; try++ {
		token, err := a.c.login(ctx, a.machine, a.password, Scenarios(), a.o.Now())
		if err != nil {
			return err
		}
		err = a.c.pushAlerts(ctx, token, alerts)
		if errors.Is(err, errAuth) && try == 0 {
			a.c.forget() // the token ended early: log in again once
			continue
		}
		return err
	}
}

// Status reports the Agent's state.
func (a *Agent) Status() AgentStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.st
	st.Queued = len(a.queue)
	return st
}
