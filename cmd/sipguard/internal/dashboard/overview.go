package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/leds"
	"github.com/sipguard/sipguard/netfilter"
)

// feedLength is how many events the overview lists.
const feedLength = 20

// overviewData is the overview page's.
type overviewData struct {
	State  state
	WAN    string // up, down or unknown
	LAN    string
	LED    *leds.Status
	Lit    string
	Lists  []row
	Rules  []row
	SIP    []row // the SIP inspection's counters
	Today  api.Bucket
	Chart  chart
	Events []api.Event
	Latest string // the newest event's ID, for the live feed
	Errors []string
}

// row is a line of a two-column table.
type row struct {
	Name  string
	Value string
}

// state is what the box is doing, in the LEDs' colours.
type state struct {
	Text   string // such as "Protecting"
	Detail string
	Class  string // green, amber, red, blue
}

// stateOf reads what the box does from its LEDs' state.
func stateOf(st *leds.Status) state {
	if st == nil {
		return state{Text: "Protecting", Detail: "the service answers; the board has no LED state", Class: "green"}
	}
	switch st.Mode {
	case leds.Protecting:
		return state{Text: "Protecting", Detail: "every service is up, no ban in the last hour", Class: "green"}
	case leds.Attack:
		return state{Text: "Protecting — attack blocked", Detail: "a ban in the last hour", Class: "amber"}
	case leds.Booting:
		return state{Text: "Not protecting yet", Detail: "services are starting", Class: "green blink"}
	case leds.Updating:
		return state{Text: "Updating", Detail: "a firmware update is being written: do not unplug", Class: "blue"}
	case leds.ResetArmed, leds.Resetting:
		return state{Text: "Factory reset", Detail: st.Mode.String(), Class: "red"}
	case leds.Faulted:
		detail := "faults: " + st.Faults.String()
		if st.Ready {
			return state{Text: "Protecting, with a fault", Detail: detail, Class: "red"}
		}
		return state{Text: "Not protecting", Detail: detail, Class: "red"}
	}
	return state{Text: st.Mode.String(), Class: "green"}
}

func (s *server) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var d overviewData
	note := func(what string, err error) {
		if err != nil {
			d.Errors = append(d.Errors, fmt.Sprintf("%s: %v", what, err))
		}
	}
	board, err := s.b.Board(ctx)
	note("board", err)
	d.LED, d.Lit = board.LEDs, board.Lit
	d.State = stateOf(d.LED)
	d.WAN, d.LAN = "unknown", "unknown"
	if d.LED != nil {
		d.WAN, d.LAN = link(d.LED.Faults, leds.FaultWANDown), link(d.LED.Faults, leds.FaultLANDown)
	}
	st, err := s.b.Status(ctx)
	note("status", err)
	total := func(name string) string { return fmt.Sprint(st.Lists[name].IPv4 + st.Lists[name].IPv6) }
	d.Lists = []row{{"Allow", total("allow")}, {"Deny", total("deny")}, {"Dynamic (permanent)", total("permanent")},
		{"Dynamic (temporary)", total("dynamic")}, {"Countries (ranges)", total("countries")}, {"Feeds (ranges)", total("feeds")}}
	for _, name := range netfilter.Counters {
		d.Rules = append(d.Rules, row{name, fmt.Sprint(st.Counters[name])})
	}
	for _, name := range slices.Sorted(maps.Keys(st.Inspection)) {
		d.SIP = append(d.SIP, row{name, fmt.Sprint(st.Inspection[name])})
	}
	if len(st.Inspection) > 0 {
		d.SIP = append(d.SIP, row{"sources tracked", fmt.Sprint(st.Sources)})
	}
	if st.FirstPacket != "" {
		d.SIP = append(d.SIP, row{"first-packet verdict", st.FirstPacket})
	}
	step := api.StepHour
	if r.URL.Query().Get("chart") == "7d" {
		step = api.StepDay
	}
	a, err := s.b.Activity(ctx, step)
	note("activity", err)
	d.Today, d.Chart = a.Today, chartOf(step, a)
	d.Events, err = s.b.Events(ctx, api.EventsQuery{Limit: feedLength})
	note("attack log", err)
	if len(d.Events) > 0 {
		d.Latest = d.Events[0].ID
	}
	s.render(w, r, http.StatusOK, "overview", "Overview", d)
}

// link says whether a port has its link, from the LEDs' faults.
func link(f, down leds.Fault) string {
	if f&down != 0 {
		return "down"
	}
	return "up"
}

// events answers the live feed's poll: the events after the one named,
// newest first, as JSON.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	evs, err := s.b.Events(r.Context(), api.EventsQuery{After: r.URL.Query().Get("after"), Limit: feedLength})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, api.ErrBadRequest) {
			code = http.StatusBadRequest
		}
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	type shown struct {
		ID, Time, Action, Source, Reason, Country, UserAgent, Extension string
	}
	out := []shown{}
	for _, e := range evs {
		out = append(out, shown{ID: e.ID, Time: when(e.Time), Action: e.Action, Source: e.Source,
			Reason: e.Reason, Country: e.Country, UserAgent: e.UserAgent, Extension: e.Extension})
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (s *server) ackTamper(w http.ResponseWriter, r *http.Request) {
	if err := s.b.AckTamper(r.Context()); err != nil {
		s.failed(w, r, "acknowledge the tamper warning", err)
		return
	}
	s.done(w, r, back(r, "/firmware"), "tamper warning acknowledged")
}

// back is the page a form came from (its field back, a path on this
// site), else def.
func back(r *http.Request, def string) string {
	if b := r.FormValue("back"); strings.HasPrefix(b, "/") && !strings.HasPrefix(b, "//") && !strings.Contains(b, "\\") {
		return b
	}
	return def
}
