package metrics

import (
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/pipeline"
	"github.com/sipguard/sipguard/leds"
	"github.com/sipguard/sipguard/sip"
)

// scrape serves m once and parses the text exposition.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return fams
}

// value returns the value of the series of name whose labels include
// want, and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestScrape(t *testing.T) {
	var st pipeline.InspectStats
	st.Frames.Add(10)
	st.SocketDrops.Add(2)
	st.Unparsable.Add(1)
	w1, w2 := st.NewSIPCounts(), st.NewSIPCounts()
	w1.Requests[sip.REGISTER].Add(3)
	w2.Requests[sip.REGISTER].Add(4)
	w2.Responses[sip.REGISTER][3].Add(5)
	snap := Snapshot{
		Inspection: &st,
		Sets:       map[string]int{"dynamic": 3, "allow": 1},
		Dropped:    map[string]uint64{"dynamic": 42},
		Feeds:      []Source{{Name: "voipbl", Enabled: true, Entries: 900, LastSuccess: time.Unix(1700000000, 0)}, {Name: "off"}},
		Notify:     []Channel{{Name: "mail", Enabled: true, Sent: 2}},
		GeoIP:      &GeoIP{Entries: 12, Built: time.Unix(1690000000, 0)},
		HasLEDs:    true, LED: leds.Attack,
		Health: []Health{{Component: "syslog", Up: true, Dropped: 4}},
	}
	m, err := New(Options{Build: Build{Version: "1.2.3", Board: "sim", Slot: "a"}, Snapshot: func() Snapshot { return snap }})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m.Applied(&sip.Event{Action: sip.Ban, Reason: sip.ReasonSlowGuessing, Time: now, First: now.Add(-3 * time.Second)}, now.Add(time.Millisecond))
	m.Applied(&sip.Event{Action: sip.Permanent, Reason: sip.ReasonScanner, Time: now}, now.Add(time.Millisecond))
	m.Applied(&sip.Event{Action: sip.Alert, Reason: sip.ReasonHijack, Time: now}, now)
	fams := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sipguard_build_info", map[string]string{"version": "1.2.3", "board": "sim", "slot": "a"}, 1},
		{"sipguard_frames_inspected_total", nil, 10},
		{"sipguard_frames_lost_total", map[string]string{"cause": "socket_drop"}, 2},
		{"sipguard_sip_parse_errors_total", nil, 1},
		{"sipguard_sip_requests_total", map[string]string{"method": "REGISTER"}, 7},
		{"sipguard_sip_requests_total", map[string]string{"method": "INVITE"}, 0},
		{"sipguard_sip_responses_total", map[string]string{"method": "REGISTER", "class": "4xx"}, 5},
		{"sipguard_bans_total", map[string]string{"reason": "slow_guessing"}, 1},
		{"sipguard_bans_total", map[string]string{"reason": "scanner"}, 1},
		{"sipguard_bans_total", map[string]string{"reason": "hijack"}, 0},
		{"sipguard_alerts_total", map[string]string{"reason": "hijack"}, 1},
		{"sipguard_time_to_ban_seconds", nil, 2},
		{"sipguard_set_entries", map[string]string{"set": "dynamic"}, 3},
		{"sipguard_kernel_dropped_packets_total", map[string]string{"counter": "dynamic"}, 42},
		{"sipguard_feed_entries", map[string]string{"feed": "voipbl"}, 900},
		{"sipguard_feed_last_success_timestamp_seconds", map[string]string{"feed": "voipbl"}, 1700000000},
		{"sipguard_notify_sent_total", map[string]string{"channel": "mail"}, 2},
		{"sipguard_geoip_entries", nil, 12},
		{"sipguard_led_state", map[string]string{"state": "attack"}, 1},
		{"sipguard_led_state", map[string]string{"state": "protecting"}, 0},
		{"sipguard_component_up", map[string]string{"component": "syslog"}, 1},
		{"sipguard_component_dropped_total", map[string]string{"component": "syslog"}, 4},
		{"sipguard_tamper", nil, 0},
	} {
		got, ok := value(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := value(fams, "sipguard_feed_entries", map[string]string{"feed": "off"}); ok {
		t.Error("a disabled feed is exposed")
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	// The slow guess took 3 s from its first failure: in the 5 s bucket, not the 2.5 s one.
	h := fams["sipguard_time_to_ban_seconds"].Metric[0].Histogram
	for _, b := range h.Bucket {
		switch b.GetUpperBound() {
		case 2.5:
			if b.GetCumulativeCount() != 1 {
				t.Errorf("%d bans within 2.5 s, want 1 (the scanner)", b.GetCumulativeCount())
			}
		case 5:
			if b.GetCumulativeCount() != 2 {
				t.Errorf("%d bans within 5 s, want 2", b.GetCumulativeCount())
			}
		}
	}
}

// Every reason has its own label value.
func TestReasonLabels(t *testing.T) {
	seen := map[string]bool{}
	for r := 1; r < reasons; r++ {
		l := ReasonLabel(sip.Reason(r))
		if l == "other" || seen[l] {
			t.Errorf("reason %d (%v): label %q", r, sip.Reason(r), l)
		}
		seen[l] = true
	}
}
