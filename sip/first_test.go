package sip

import (
	"testing"
	"time"
)

// A ban for failures says when its first counted failure was seen: not a
// first challenge, nor a failure from before a ban or older than every
// window; a scanner's ban says nothing (its packet decided alone).
func TestBanEventFirstFailure(t *testing.T) {
	h := newHarness(t, nil)
	h.exchange(attacker, "REGISTER", "1001", false, 401, "") // a normal challenge
	h.now = h.now.Add(2 * time.Hour)
	h.exchange(attacker, "REGISTER", "1001", true, 401, "") // counted, then forgotten
	h.now = h.now.Add(2 * time.Hour)
	first := h.now
	for range 5 {
		h.exchange(attacker, "REGISTER", "1001", true, 401, "")
		h.now = h.now.Add(time.Second)
	}
	d := h.wantOne(Ban, ReasonSlowGuessing)
	if !d.Event.First.Equal(first) {
		t.Errorf("first failure %v, want %v (the ban at %v)", d.Event.First, first, d.Event.Time)
	}
	// After the ban expires, the next run of failures counts afresh.
	h.now = h.now.Add(time.Hour)
	again := h.now
	for range 5 {
		h.exchange(attacker, "REGISTER", "1001", true, 401, "")
	}
	if d := h.wantOne(Ban, ReasonSlowGuessing); !d.Event.First.Equal(again) {
		t.Errorf("second ban: first failure %v, want %v", d.Event.First, again)
	}
	h.agent = "friendly-scanner"
	h.exchange(office, "OPTIONS", "100", false, 0, "")
	if d := h.wantOne(Ban, ReasonScanner); !d.Event.First.IsZero() {
		t.Errorf("a scanner's ban has a first failure: %v", d.Event.First)
	}
}
