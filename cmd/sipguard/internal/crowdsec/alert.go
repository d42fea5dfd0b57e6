package crowdsec

import (
	"fmt"
	"time"
)

// alert is an alert as the LAPI takes it (POST /v1/alerts).
type alert struct {
	Scenario        string         `json:"scenario"`
	ScenarioHash    string         `json:"scenario_hash"`
	ScenarioVersion string         `json:"scenario_version"`
	Message         string         `json:"message"`
	EventsCount     int32          `json:"events_count"`
	StartAt         string         `json:"start_at"`
	StopAt          string         `json:"stop_at"`
	Capacity        int32          `json:"capacity"`
	Leakspeed       string         `json:"leakspeed"`
	Simulated       bool           `json:"simulated"`
	Remediation     bool           `json:"remediation"`
	Events          []alertEvent   `json:"events"`
	Source          alertSource    `json:"source"`
	Meta            []meta         `json:"meta,omitempty"`
	Decisions       []alertDecided `json:"decisions,omitempty"`
	Labels          []string       `json:"labels,omitempty"`
}

type alertEvent struct {
	Timestamp string `json:"timestamp"`
	Meta      []meta `json:"meta"`
}

type meta struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type alertSource struct {
	Scope string `json:"scope"`
	Value string `json:"value"`
	IP    string `json:"ip,omitempty"`
	Range string `json:"range,omitempty"`
	CN    string `json:"cn,omitempty"`
}

type alertDecided struct {
	Duration  string `json:"duration"`
	Origin    string `json:"origin"`
	Scenario  string `json:"scenario"`
	Scope     string `json:"scope"`
	Type      string `json:"type"`
	Value     string `json:"value"`
	Simulated bool   `json:"simulated"`
}

// permanentFor is how long a permanent ban lasts in the fleet: a year,
// after which a source still attacking is banned again.
const permanentFor = 365 * 24 * time.Hour

// newAlert makes e's alert, with the decision of its ban.
func newAlert(e Event, scenario, machine string) alert {
	at := e.Time.UTC().Format(time.RFC3339)
	src := alertSource{Scope: "Ip", Value: e.Source.Addr().String(), IP: e.Source.Addr().String(), CN: e.Country}
	if e.Source.Bits() < e.Source.Addr().BitLen() {
		src = alertSource{Scope: "Range", Value: e.Source.Masked().String(), Range: e.Source.Masked().String(), CN: e.Country}
	}
	md := []meta{{"reason", e.Reason}, {"action", e.Action}}
	if e.Country != "" {
		md = append(md, meta{"country", e.Country})
	}
	if e.UserAgent != "" {
		md = append(md, meta{"user_agent", e.UserAgent})
	}
	if e.Extension != "" {
		md = append(md, meta{"extension", e.Extension})
	}
	addr := e.Addr
	if !addr.IsValid() {
		addr = e.Source.Addr()
	}
	a := alert{
		Scenario: scenario, ScenarioHash: "", ScenarioVersion: "1",
		Message:     fmt.Sprintf("sipguard %s: %s %s: %s", machine, e.Action, src.Value, e.Reason),
		EventsCount: 1, StartAt: at, StopAt: at, Leakspeed: "0s",
		Events: []alertEvent{{Timestamp: at, Meta: []meta{{"source_ip", addr.String()}, {"service", "sip"}}}},
		Source: src, Meta: md,
	}
	d := e.Duration
	if e.Action == "permanent" {
		d = permanentFor
	}
	if d >= time.Second {
		a.Remediation = true
		a.Decisions = []alertDecided{{Duration: d.Round(time.Second).String(), Origin: "sipguard", Scenario: scenario,
			Scope: src.Scope, Type: "ban", Value: src.Value}}
	}
	return a
}
