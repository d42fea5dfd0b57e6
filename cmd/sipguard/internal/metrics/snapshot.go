package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/pipeline"
	"github.com/sipguard/sipguard/leds"
	"github.com/sipguard/sipguard/sip"
)

// Snapshot is the box's state as one scrape reads it. A nil or empty
// field leaves its metrics out (inspection off, no GeoIP database).
type Snapshot struct {
	// Inspection is nil when inspection is off.
	Inspection *pipeline.InspectStats
	// Sets is each kernel set's entries ("allow", "dynamic", "feeds"…);
	// Dropped the kernel's drop counters in packets ("dynamic", "tftp"…).
	Sets    map[string]int
	Dropped map[string]uint64
	// Notify is each notification channel ("mail", "webhook").
	Notify []Channel
	// Feeds is each blocklist feed the configuration names.
	Feeds []Source
	// GeoIP is the country database; nil without one.
	GeoIP *GeoIP
	// LED is what the LEDs show now; zero without LEDs.
	LED     leds.Mode
	HasLEDs bool
	// Tamper is a tamper warning not yet acknowledged.
	Tamper bool
	// Health is the state of outside services: the remote syslog,
	// CrowdSec, whatever the daemon adds.
	Health []Health
}

// Channel is one notification channel.
type Channel struct {
	Name                                   string
	Enabled                                bool
	Sent, Failed, Dropped, Queued, Retries int
	LastSent, LastErrorAt                  time.Time
}

// Source is a blocklist feed.
type Source struct {
	Name        string
	Enabled     bool
	Entries     int
	LastSuccess time.Time
	Failures    int // failed refreshes in a row
}

// GeoIP is the country database and its updates.
type GeoIP struct {
	Built       time.Time // when the vendor built the database in use
	Entries     int       // networks of the filtered countries in the kernel
	LastSuccess time.Time // the last update check that ended well
	Failures    int       // update checks failed in a row
}

// Health is an outside service the box talks to.
type Health struct {
	// Component names it: "syslog", "crowdsec_bouncer"…
	Component string
	// Up is true when the last exchange with it ended well.
	Up          bool
	LastSuccess time.Time
	// Errors and Dropped count failures and what was given up since
	// start.
	Errors, Dropped uint64
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var (
	descBuild       = desc("build_info", "The firmware: version, board and root slot; always 1.", "version", "board", "slot")
	descFrames      = desc("frames_inspected_total", "Frames the captures read from both ports.")
	descLost        = desc("frames_lost_total", "Frames or SIP requests not inspected, by cause.", "cause")
	descRequests    = desc("sip_requests_total", "SIP requests parsed, by method.", "method")
	descResponses   = desc("sip_responses_total", "SIP responses parsed, by the method they answer and status class.", "method", "class")
	descParseErrors = desc("sip_parse_errors_total", "Payloads on the SIP ports that did not parse as SIP.")
	descBans        = desc("bans_total", "Bans put in the kernel by the detection, by reason.", "reason")
	descAlerts      = desc("alerts_total", "Alerts raised by the detection and the toll-fraud watch, by reason.", "reason")
	descSets        = desc("set_entries", "Entries in each kernel set.", "set")
	descDropped     = desc("kernel_dropped_packets_total", "Packets the kernel ruleset dropped, by rule counter.", "counter")
	descNotifySent  = desc("notify_sent_total", "Notification messages delivered, by channel.", "channel")
	descNotifyFail  = desc("notify_failed_total", "Notification messages given up, by channel.", "channel")
	descNotifyDrop  = desc("notify_dropped_total", "Notification messages pushed out of a full queue, by channel.", "channel")
	descNotifyRetry = desc("notify_retries_total", "Failed deliveries that were retried, by channel.", "channel")
	descNotifyQueue = desc("notify_queued_messages", "Notification messages waiting, by channel.", "channel")
	descNotifyLast  = desc("notify_last_success_timestamp_seconds", "When a message was last delivered, by channel.", "channel")
	descNotifyErrAt = desc("notify_last_error_timestamp_seconds", "When a delivery last failed, by channel.", "channel")
	descFeedEntries = desc("feed_entries", "Entries of each blocklist feed in force.", "feed")
	descFeedLast    = desc("feed_last_success_timestamp_seconds", "When each feed was last refreshed well.", "feed")
	descFeedFails   = desc("feed_consecutive_failures", "Failed refreshes in a row of each feed.", "feed")
	descGeoBuilt    = desc("geoip_database_build_timestamp_seconds", "When the country database in use was built.")
	descGeoEntries  = desc("geoip_entries", "Networks of the filtered countries in the kernel.")
	descGeoLast     = desc("geoip_last_success_timestamp_seconds", "When an update check of the country database last ended well.")
	descGeoFails    = desc("geoip_consecutive_failures", "Country database update checks failed in a row.")
	descLED         = desc("led_state", "What the LEDs show: 1 for the current state, 0 for the others.", "state")
	descTamper      = desc("tamper", "1 while a tamper warning is shown.")
	descUp          = desc("component_up", "1 when the last exchange with an outside service ended well.", "component")
	descCompLast    = desc("component_last_success_timestamp_seconds", "When an outside service last answered well.", "component")
	descCompErrors  = desc("component_errors_total", "Failed exchanges with an outside service.", "component")
	descCompDropped = desc("component_dropped_total", "What was given up for an outside service (a full queue).", "component")
)

// collector turns a Snapshot into metrics at each scrape.
type collector struct{ m *Metrics }

// Describe sends nothing: the set of metrics depends on the box's state
// (an unchecked collector).
func (collector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	stamp := func(d *prometheus.Desc, t time.Time, labels ...string) {
		if !t.IsZero() {
			gauge(d, float64(t.UnixNano())/1e9, labels...)
		}
	}
	gauge(descBuild, 1, m.build.Version, m.build.Board, m.build.Slot)
	for r := 1; r < reasons; r++ {
		counter(descBans, float64(m.bans[r].Load()), ReasonLabel(sip.Reason(r)))
		counter(descAlerts, float64(m.alerts[r].Load()), ReasonLabel(sip.Reason(r)))
	}
	if m.snapshot == nil {
		return
	}
	s := m.snapshot()
	if st := s.Inspection; st != nil {
		counter(descFrames, float64(st.Frames.Load()))
		for cause, v := range lostCauses(st) {
			counter(descLost, float64(v), cause)
		}
		counter(descParseErrors, float64(st.Unparsable.Load()))
		sc := st.SIPTotals()
		for i := range pipeline.Methods {
			method := MethodLabel(sip.Method(i))
			counter(descRequests, float64(sc.Requests[i].Load()), method)
			for k := range sc.Responses[i] {
				counter(descResponses, float64(sc.Responses[i][k].Load()), method, classLabels[k])
			}
		}
	}
	for name, n := range s.Sets {
		gauge(descSets, float64(n), name)
	}
	for name, n := range s.Dropped {
		counter(descDropped, float64(n), name)
	}
	for _, n := range s.Notify {
		if !n.Enabled {
			continue
		}
		counter(descNotifySent, float64(n.Sent), n.Name)
		counter(descNotifyFail, float64(n.Failed), n.Name)
		counter(descNotifyDrop, float64(n.Dropped), n.Name)
		counter(descNotifyRetry, float64(n.Retries), n.Name)
		gauge(descNotifyQueue, float64(n.Queued), n.Name)
		stamp(descNotifyLast, n.LastSent, n.Name)
		stamp(descNotifyErrAt, n.LastErrorAt, n.Name)
	}
	for _, f := range s.Feeds {
		if !f.Enabled {
			continue
		}
		gauge(descFeedEntries, float64(f.Entries), f.Name)
		stamp(descFeedLast, f.LastSuccess, f.Name)
		gauge(descFeedFails, float64(f.Failures), f.Name)
	}
	if g := s.GeoIP; g != nil {
		stamp(descGeoBuilt, g.Built)
		gauge(descGeoEntries, float64(g.Entries))
		stamp(descGeoLast, g.LastSuccess)
		gauge(descGeoFails, float64(g.Failures))
	}
	if s.HasLEDs {
		for mode := leds.Protecting; mode <= leds.Resetting; mode++ {
			v := 0.0
			if mode == s.LED {
				v = 1
			}
			gauge(descLED, v, mode.String())
		}
	}
	tamper := 0.0
	if s.Tamper {
		tamper = 1
	}
	gauge(descTamper, tamper)
	for _, h := range s.Health {
		up := 0.0
		if h.Up {
			up = 1
		}
		gauge(descUp, up, h.Component)
		stamp(descCompLast, h.LastSuccess, h.Component)
		counter(descCompErrors, float64(h.Errors), h.Component)
		counter(descCompDropped, float64(h.Dropped), h.Component)
	}
}

// lostCauses are the frames and requests the inspection could not read,
// by cause.
func lostCauses(st *pipeline.InspectStats) map[string]uint64 {
	return map[string]uint64{
		"socket_drop":        st.SocketDrops.Load(),
		"truncated":          st.Truncated.Load(),
		"shed":               st.Shed.Load(),
		"undecodable":        st.Undecodable.Load(),
		"fragment_timeout":   st.FragTimeouts.Load(),
		"fragment_evicted":   st.FragEvicted.Load(),
		"fragment_overlap":   st.FragOverlaps.Load(),
		"fragment_too_big":   st.FragTooBig.Load(),
		"fragment_malformed": st.FragMalformed.Load(),
		"tcp_overflow":       st.TCPOverflows.Load(),
	}
}

// MethodLabel is a method's label value: its name, or "other".
func MethodLabel(m sip.Method) string { return m.String() }

var classLabels = [6]string{"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"}
