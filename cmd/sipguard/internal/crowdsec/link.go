package crowdsec

import "time"

// Link is the state of the exchanges of a Bouncer or an Agent with the
// LAPI, as their status reports it.
type Link struct {
	State       string    `json:"state"` // StateStarting, StateOK or StateDown
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Failures counts the failures in a row; NextTry is when the next
	// try is due while down.
	Failures int `json:"failures,omitempty"`
	// Errors counts every failure since start.
	Errors  uint64    `json:"errors,omitempty"`
	NextTry time.Time `json:"next_try,omitzero"`
}

// failed records a failed exchange at now.
func (l *Link) failed(err error, now time.Time) {
	l.State, l.LastError, l.LastErrorAt = StateDown, err.Error(), now
	l.Failures++
	l.Errors++
}

// succeeded records an exchange that worked at now.
func (l *Link) succeeded(now time.Time) {
	l.State, l.LastSuccess, l.Failures, l.NextTry = StateOK, now, 0, time.Time{}
}
