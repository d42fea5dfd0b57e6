package pipeline

import (
	"net/netip"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/sip"
)

// history is each source's count of dynamic bans and the time of its
// last, what the block threshold is compared with once forgiven by the
// decay. The journal holds the whole history; the records of the sources
// seen lately are kept here, at most max of them, so that a batch is
// judged without waiting for the SD card.
type history struct {
	journal Journal // nil: the history lives in memory only
	max     int
	// decay forgives one ban for every full decay since a source's last
	// ban; 0 never forgives.
	decay   time.Duration
	records map[netip.Prefix]store.History
	missing []netip.Prefix // scratch for load
}

func newHistory(max int) *history {
	return &history{max: max, records: make(map[netip.Prefix]store.History)}
}

// load reads from the journal, in one read, the records of a batch's
// sources not in memory.
func (h *history) load(batch []sip.Decision) {
	h.missing = h.missing[:0]
	for _, d := range batch {
		if d.Action == sip.Refresh {
			continue
		}
		if _, ok := h.records[d.Source.Masked()]; !ok {
			h.missing = append(h.missing, d.Source.Masked())
		}
	}
	if len(h.missing) == 0 {
		return
	}
	var records []store.History
	if h.journal != nil {
		var err error
		if records, err = h.journal.BanHistory(h.missing...); err != nil {
			records = nil // counted from zero: a ban is never held up by the card
		}
	}
	for i, p := range h.missing {
		var r store.History
		if i < len(records) {
			r = records[i]
		}
		h.set(p, r)
	}
}

// set keeps r for p, forgetting another source's record when full: the
// journal still has it.
func (h *history) set(p netip.Prefix, r store.History) {
	if _, ok := h.records[p]; !ok && len(h.records) >= h.max {
		for q := range h.records { // any one: map order is random
			delete(h.records, q)
			break
		}
	}
	h.records[p] = r
}

// count returns p's count at now, forgiven by the decay.
func (h *history) count(p netip.Prefix, now time.Time) int {
	return h.records[p].Decayed(now, h.decay)
}

// add counts one more ban of p at now and returns its count.
func (h *history) add(p netip.Prefix, now time.Time) int {
	n := h.count(p, now) + 1
	h.set(p, store.History{Count: n, Last: now})
	return n
}

// reset forgets p's bans: its next ban counts from one.
func (h *history) reset(p netip.Prefix) { h.set(p, store.History{}) }
