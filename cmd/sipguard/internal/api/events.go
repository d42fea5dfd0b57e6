package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Event is one entry of the attack log: a ban, a permanent ban, an alert,
// or a permanent ban lifted by hand.
type Event struct {
	// ID orders the events (a later event has a greater ID); the live
	// feed asks for the events after the last one it has.
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Action    string    `json:"action"` // ban, permanent, alert, unban
	Source    string    `json:"source"` // the source as banned: an address or a network
	Addr      string    `json:"addr,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Count     int       `json:"count,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Extension string    `json:"extension,omitempty"`
	Dialled   string    `json:"dialled,omitempty"`
	Country   string    `json:"country,omitempty"`
}

// EventsQuery asks for the newest events: at most Limit, those after the
// event After names (any when empty).
type EventsQuery struct {
	After string
	Limit int
}

// Activity counts the attack log's events in periods of equal length: the
// hours of the last day, or the days of the last week.
type Activity struct {
	Step    string   `json:"step"` // hour or day
	Buckets []Bucket `json:"buckets"`
	// Today counts the events of today, in the box's time zone.
	Today Bucket `json:"today"`
}

// Bucket is what one period of the activity counts.
type Bucket struct {
	Start     time.Time `json:"start"`
	Label     string    `json:"label"`  // such as "14:00" or "2026-11-25"
	Events    int       `json:"events"` // bans, permanent bans and alerts
	Bans      int       `json:"bans"`
	Permanent int       `json:"permanent"`
	Alerts    int       `json:"alerts"`
}

// Activity periods.
const (
	StepHour = "hour" // the 24 hours up to now
	StepDay  = "day"  // the 7 days up to today
)

// MaxEvents bounds the events one request returns.
const MaxEvents = 1000

// EventsBackend is what the API serves of the attack log, for a live feed
// and a chart.
type EventsBackend interface {
	// Events returns the newest events, newest first.
	Events(context.Context, EventsQuery) ([]Event, error)
	// Activity counts the events by hour over the last 24 hours (StepHour)
	// or by day over the last 7 days (StepDay).
	Activity(ctx context.Context, step string) (Activity, error)
}

func handleEvents(mux *http.ServeMux, b EventsBackend) {
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		q, err := eventsQuery(r.URL.Query())
		if err != nil {
			reply(w, nil, err)
			return
		}
		evs, err := b.Events(r.Context(), q)
		if evs == nil {
			evs = []Event{}
		}
		reply(w, evs, err)
	})
	mux.HandleFunc("GET /v1/activity", func(w http.ResponseWriter, r *http.Request) {
		step := r.URL.Query().Get("step")
		if step == "" {
			step = StepHour
		}
		if step != StepHour && step != StepDay {
			reply(w, nil, fmt.Errorf("%w: step: %q is not hour or day", ErrBadRequest, step))
			return
		}
		a, err := b.Activity(r.Context(), step)
		reply(w, a, err)
	})
}

// eventsQuery reads the parameters of GET /v1/events: after, limit.
func eventsQuery(v url.Values) (EventsQuery, error) {
	q := EventsQuery{After: v.Get("after"), Limit: 100}
	for k := range v {
		if k != "after" && k != "limit" {
			return q, fmt.Errorf("%w: unknown parameter %q (after, limit)", ErrBadRequest, k)
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxEvents {
			return q, fmt.Errorf("%w: limit: %q is not a number from 1 to %d", ErrBadRequest, s, MaxEvents)
		}
		q.Limit = n
	}
	return q, nil
}

// Events reads the attack log's newest events, newest first.
func (c Client) Events(ctx context.Context, q EventsQuery) ([]Event, error) {
	v := url.Values{}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/v1/events"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []Event
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// Activity counts the attack log's events by hour or by day.
func (c Client) Activity(ctx context.Context, step string) (Activity, error) {
	var out Activity
	err := c.do(ctx, http.MethodGet, "/v1/activity?step="+url.QueryEscape(step), nil, &out)
	return out, err
}

// handleExtras serves what a backend offers beyond Backend: the
// configuration file and the attack log's feed.
func handleExtras(mux *http.ServeMux, b Backend) {
	if cb, ok := b.(ConfigBackend); ok {
		handleConfig(mux, cb)
	}
	if eb, ok := b.(EventsBackend); ok {
		handleEvents(mux, eb)
	}
}
