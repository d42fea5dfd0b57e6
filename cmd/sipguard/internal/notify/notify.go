package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// SummaryFunc computes the daily summary of the period [from, to).
type SummaryFunc func(ctx context.Context, from, to time.Time) (Summary, error)

// Options are what the notifier needs from its surroundings; all are
// optional.
type Options struct {
	Clock Clock // nil: the system clock
	// HTTPClient posts to the webhook; nil: a client with the webhook's
	// timeout.
	HTTPClient *http.Client
	// TLSConfig is the base of the SMTP connection's TLS configuration
	// (such as extra root certificates); nil: the system's roots.
	TLSConfig *tls.Config
	// Summary computes the daily summary; nil: no daily summary.
	Summary SummaryFunc
	Logger  *slog.Logger // nil: no log
}

// Status is the notifier's state, for the API.
type Status struct {
	Mail    ChannelStatus `json:"mail"`
	Webhook ChannelStatus `json:"webhook"`
	// Pending counts the alerts waiting for the next batch message.
	// Dropped counts the alerts lost because the queue was full (neither
	// listed nor counted in any message); Unlisted the alerts counted in
	// a message's totals but not listed, beyond MaxBatch.
	Pending  int `json:"pending"`
	Dropped  int `json:"dropped"`
	Unlisted int `json:"unlisted"`
	// LastAlert is when the last alert message was queued; NextAlert
	// when the batch waiting is due (zero: none waiting).
	LastAlert time.Time `json:"last_alert,omitzero"`
	NextAlert time.Time `json:"next_alert,omitzero"`
	// NextSummary is when the next daily summary is due (zero: off).
	NextSummary time.Time `json:"next_summary,omitzero"`
	LastSummary time.Time `json:"last_summary,omitzero"`
	// SummaryError is why the last daily summary could not be built.
	SummaryError string `json:"summary_error,omitempty"`
}

// Notifier sends the notifications of one set of settings. Its methods
// are safe for concurrent use; Alert never blocks.
type Notifier struct {
	cfg     Settings
	opts    Options
	clock   Clock
	log     *slog.Logger
	mail    *mailer
	hook    *hook
	targets []*channel

	mu      sync.Mutex
	intake  []store.Event // alerts not yet taken by the scheduler
	status  Status
	wake    chan struct{}
	running bool
}

// New validates the settings and returns a notifier; Run starts it.
func New(s Settings, o Options) (*Notifier, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = withDefaults(s)
	n := &Notifier{cfg: s, opts: o, clock: o.Clock, log: o.Logger, wake: make(chan struct{}, 1)}
	if n.clock == nil {
		n.clock = SystemClock{}
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if s.SMTP.Enabled() {
		n.mail = &mailer{cfg: s.SMTP, tlsConfig: o.TLSConfig, clock: n.clock}
		n.targets = append(n.targets, newChannel("mail", s, n.clock, n.log, n.mail.send))
	}
	if s.Webhook.Enabled() {
		client := o.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: s.Webhook.Timeout}
		}
		n.hook = &hook{cfg: s.Webhook, client: client}
		n.targets = append(n.targets, newChannel("webhook", s, n.clock, n.log, n.hook.send))
	}
	return n, nil
}

// Settings returns the settings in force, defaults filled in.
func (n *Notifier) Settings() Settings { return n.cfg }

// Alert hands over one attack-log event. It returns at once: the event
// waits in a bounded queue, and is dropped (counted in Status) when the
// queue is full. Without alerts configured it does nothing.
func (n *Notifier) Alert(e store.Event) {
	if !n.cfg.Alerts {
		return
	}
	n.mu.Lock()
	if len(n.intake) >= n.cfg.Queue {
		n.status.Dropped++
		n.mu.Unlock()
		return
	}
	n.intake = append(n.intake, e)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// SendSummary queues s for delivery now, outside the daily schedule.
func (n *Notifier) SendSummary(s Summary) {
	n.queue(n.summaryMessage(s))
}

// Test sends a test message through every configured channel at once,
// without queue or retry, and returns what failed.
func (n *Notifier) Test(ctx context.Context) error {
	if n.mail == nil && n.hook == nil {
		return fmt.Errorf("%w: neither smtp.host nor webhook.url is set", ErrInvalid)
	}
	now := n.clock.Now()
	subject := fmt.Sprintf("sipguard %s: test message", n.cfg.Hostname)
	text := fmt.Sprintf("This is a test message from sipguard %s, sent %s.\n\n"+
		"Daily summary: %s. Attack alerts: %s.\n", n.cfg.Hostname, now.Format(stamp+":05 MST"), n.dailyText(), n.alertsText())
	m := &message{kind: "test", subject: subject, text: text, created: now,
		payload: WebhookPayload{Type: "test", Host: n.cfg.Hostname, Time: now, Text: subject + "\n\n" + text}}
	var errs []error
	if n.mail != nil {
		errs = append(errs, n.mail.send(ctx, m))
	}
	if n.hook != nil {
		errs = append(errs, n.hook.send(ctx, m))
	}
	return errors.Join(errs...)
}

func (n *Notifier) dailyText() string {
	if !n.cfg.Daily {
		return "off"
	}
	return fmt.Sprintf("every day at %02d:00 (%s)", n.cfg.DailyHour, n.cfg.Location)
}

func (n *Notifier) alertsText() string {
	if !n.cfg.Alerts {
		return "off"
	}
	return fmt.Sprintf("at most one message every %v", n.cfg.AlertInterval)
}

// Status returns the notifier's state.
func (n *Notifier) Status() Status {
	n.mu.Lock()
	st := n.status
	n.mu.Unlock()
	for _, c := range n.targets {
		switch c.name {
		case "mail":
			st.Mail = c.snapshot()
		case "webhook":
			st.Webhook = c.snapshot()
		}
	}
	return st
}

// Run delivers notifications until ctx ends; it returns ctx's error. Run
// is called once.
func (n *Notifier) Run(ctx context.Context) error {
	n.mu.Lock()
	if n.running {
		n.mu.Unlock()
		return errors.New("notify: Run called twice")
	}
	n.running = true
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range n.targets {
		wg.Go(func() { c.run(ctx) })
	}
	n.schedule(ctx)
	wg.Wait()
	return ctx.Err()
}

// queue hands m to every channel.
func (n *Notifier) queue(m *message) {
	for _, c := range n.targets {
		c.enqueue(m)
	}
}

// dailyCheck is how often the daily timer compares the wall clock with
// the hour due; dailyLate how late a summary may still go out (after the
// clock was set forward, the day's summary is skipped).
const (
	dailyCheck = 10 * time.Minute
	dailyLate  = time.Hour
)

// batch is the alerts waiting for the next message.
type batch struct {
	events  []store.Event
	omitted int
	tally   store.Tally
	from    time.Time
	to      time.Time
}

func (b *batch) add(e store.Event, max int) bool {
	if b.tally.Events == 0 {
		b.from = e.Time
	}
	b.from, b.to = minTime(b.from, e.Time), maxTime(b.to, e.Time)
	b.tally.Add(e)
	if len(b.events) < max {
		b.events = append(b.events, e)
		return true
	}
	b.omitted++
	return false
}

// schedule batches the alerts and fires the daily summary until ctx ends.
func (n *Notifier) schedule(ctx context.Context) {
	var (
		pending   batch
		lastSent  time.Time // when the last alert message was queued
		flush     Timer
		flushC    <-chan time.Time
		daily     Timer
		dailyC    <-chan time.Time
		dailyNext time.Time
	)
	stop := func(t Timer) {
		if t != nil {
			t.Stop()
		}
	}
	defer func() { stop(flush); stop(daily) }()
	// The daily timer wakes at least every dailyCheck to compare the
	// wall clock with the hour due: a box without a real-time clock boots
	// in the past and has its clock set later.
	armDaily := func(next bool) {
		if !n.cfg.Daily || n.opts.Summary == nil {
			return
		}
		now := n.clock.Now()
		if next {
			dailyNext = nextDaily(now, n.cfg.DailyHour, n.cfg.Location)
			n.mu.Lock()
			n.status.NextSummary = dailyNext
			n.mu.Unlock()
		}
		daily = n.clock.NewTimer(min(dailyNext.Sub(now), dailyCheck))
		dailyC = daily.C()
	}
	armDaily(true)
	sendBatch := func(now time.Time) {
		b := pending
		pending = batch{}
		lastSent = now
		n.queue(n.alertMessage(b, now))
		n.mu.Lock()
		n.status.LastAlert, n.status.NextAlert, n.status.Pending = now, time.Time{}, 0
		n.mu.Unlock()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
			n.mu.Lock()
			in := n.intake
			n.intake = nil
			n.mu.Unlock()
			unlisted := 0
			for _, e := range in {
				now := n.clock.Now()
				if pending.tally.Events == 0 && flushC == nil && (lastSent.IsZero() || !now.Before(lastSent.Add(n.cfg.AlertInterval))) {
					pending.add(e, n.cfg.MaxBatch)
					sendBatch(now)
					continue
				}
				if !pending.add(e, n.cfg.MaxBatch) {
					unlisted++
				}
				if flushC == nil {
					due := lastSent.Add(n.cfg.AlertInterval)
					flush = n.clock.NewTimer(due.Sub(now))
					flushC = flush.C()
					n.mu.Lock()
					n.status.NextAlert = due
					n.mu.Unlock()
				}
			}
			n.mu.Lock()
			n.status.Pending = pending.tally.Events
			n.status.Unlisted += unlisted
			n.mu.Unlock()
		case <-flushC:
			flush, flushC = nil, nil
			if pending.tally.Events > 0 {
				sendBatch(n.clock.Now())
			}
		case <-dailyC:
			daily, dailyC = nil, nil
			now := n.clock.Now()
			switch late := now.Sub(dailyNext); {
			case late < 0:
				armDaily(false)
				continue
			case late > dailyLate:
				n.log.Info("daily summary skipped: the clock moved past its hour", "due", dailyNext, "now", now)
			default:
				n.daily(ctx, dailyNext)
			}
			armDaily(true)
		}
	}
}

// daily builds and queues the summary of the day ending at to.
func (n *Notifier) daily(ctx context.Context, to time.Time) {
	from := to.AddDate(0, 0, -1)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s, err := n.opts.Summary(ctx, from, to)
	n.mu.Lock()
	n.status.LastSummary = n.clock.Now()
	n.status.SummaryError = ""
	if err != nil {
		n.status.SummaryError = err.Error()
	}
	n.mu.Unlock()
	if err != nil {
		n.log.Warn("daily summary", "err", err)
		return
	}
	if s.Report.From.IsZero() && s.Report.To.IsZero() {
		s.Report.From, s.Report.To = from, to
	}
	n.queue(n.summaryMessage(s))
}

func (n *Notifier) summaryMessage(s Summary) *message {
	if s.Host == "" {
		s.Host = n.cfg.Hostname
	}
	now := n.clock.Now()
	subject, text := s.Subject(), s.Text()
	return &message{kind: "summary", subject: subject, text: text, html: htmlOf(subject, text), created: now,
		payload: WebhookPayload{Type: "summary", Host: s.Host, Time: now, Text: subject + "\n\n" + text, Summary: &s}}
}

func (n *Notifier) alertMessage(b batch, now time.Time) *message {
	loc := n.cfg.Location
	a := AlertBatch{From: b.from.In(loc), To: b.to.In(loc), Events: b.events, Omitted: b.omitted, Tally: b.tally}
	for i := range a.Events {
		a.Events[i].Time = a.Events[i].Time.In(loc)
	}
	host := n.cfg.Hostname
	subject, text := a.Subject(host), a.Text(host)
	return &message{kind: "alerts", subject: subject, text: text, created: now,
		payload: WebhookPayload{Type: "alerts", Host: host, Time: now, Text: subject + "\n\n" + text, Alerts: &a}}
}

// nextDaily returns the first time after now that is hour:00 in loc.
func nextDaily(now time.Time, hour int, loc *time.Location) time.Time {
	l := now.In(loc)
	next := time.Date(l.Year(), l.Month(), l.Day(), hour, 0, 0, 0, loc)
	if !next.After(now) {
		next = time.Date(l.Year(), l.Month(), l.Day()+1, hour, 0, 0, 0, loc)
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
