// Package metrics exposes the box's counters to Prometheus.
//
// Nothing here runs per packet. The inspection counts SIP messages in
// fixed arrays of atomics (pipeline.SIPCounts); the kernel, the feeds,
// the notifications and the LEDs keep their own state. A scrape reads all
// of it through one Snapshot function and turns it into constant metrics,
// so a counter costs the hot path an index and an add, and a label value
// is never built from traffic. Bans and the time to ban are recorded per
// ban, off the packet path, by Applied.
//
// Label values come from fixed sets: methods, status classes, ban
// reasons, set and counter names, feed names from the configuration. A
// source address is never a label.
package metrics

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sipguard/sipguard/sip"
)

// Namespace prefixes every metric of the box.
const Namespace = "sipguard"

// Build is what sipguard_build_info says of the firmware.
type Build struct {
	Version, Board, Slot string
}

// Options configure New.
type Options struct {
	Build Build
	// Snapshot reads the box's state at each scrape; it must be safe for
	// concurrent use. Nil: only the metrics kept here.
	Snapshot func() Snapshot
}

// Metrics is the box's registry: its own collector, the Go runtime's and
// the process's. Its methods are safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	bans     [reasons]atomic.Uint64
	alerts   [reasons]atomic.Uint64
	toBan    prometheus.Histogram
	build    Build
	snapshot func() Snapshot
}

// reasons is the number of sip.Reason values, the zero one included.
const reasons = int(sip.ReasonTrunkFailures) + 1

// TimeToBanBuckets are the time-to-ban histogram's upper bounds in
// seconds: from a scanner's first packet (milliseconds) to slow guessing
// (up to an hour).
var TimeToBanBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// New returns the registry with every collector registered.
func New(o Options) (*Metrics, error) {
	m := &Metrics{reg: prometheus.NewRegistry(), build: o.Build, snapshot: o.Snapshot}
	m.toBan = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "time_to_ban_seconds",
		Help:    "Time from a source's first counted failure (or the deciding packet) to its ban in the kernel.",
		Buckets: TimeToBanBuckets,
	})
	for _, c := range []prometheus.Collector{
		m.toBan, collector{m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := m.reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Register adds a collector of another part of the box to every scrape.
// Its metrics' names should start with Namespace.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// Gatherer returns the registry, for tests and other exporters.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the metrics in Prometheus' text exposition format (or
// what the scraper negotiates).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Applied records an event once its batch is in the kernel at at: a ban
// counts by reason and observes its time to ban; an alert counts by
// reason. It is the pipeline's Applied hook.
func (m *Metrics) Applied(ev *sip.Event, at time.Time) {
	r := int(ev.Reason)
	if r < 0 || r >= reasons {
		r = 0
	}
	switch ev.Action {
	case sip.Ban, sip.Permanent:
		m.bans[r].Add(1)
		from := ev.First
		if from.IsZero() {
			from = ev.Time
		}
		m.toBan.Observe(max(at.Sub(from), 0).Seconds())
	case sip.Alert:
		m.alerts[r].Add(1)
	}
}

// ReasonLabel is a ban or alert reason's label value: short, stable, in
// snake case ("register_brute_force").
func ReasonLabel(r sip.Reason) string {
	if int(r) < len(reasonLabels) && reasonLabels[r] != "" {
		return reasonLabels[r]
	}
	return "other"
}

var reasonLabels = [reasons]string{
	sip.ReasonScanner:             "scanner",
	sip.ReasonRegisterBruteForce:  "register_brute_force",
	sip.ReasonInviteBruteForce:    "invite_brute_force",
	sip.ReasonSlowBruteForce:      "slow_brute_force",
	sip.ReasonFlood:               "flood",
	sip.ReasonKnownGoodFailures:   "known_good_failures",
	sip.ReasonHijack:              "hijack",
	sip.ReasonScannerFromAnswered: "scanner_from_answered",
	sip.ReasonSlowGuessing:        "slow_guessing",
	sip.ReasonNetworkGuessing:     "network_guessing",
	sip.ReasonTollFraud:           "toll_fraud",
	sip.ReasonOffHoursCalls:       "off_hours_calls",
	sip.ReasonTrunkFailures:       "trunk_failures",
}
