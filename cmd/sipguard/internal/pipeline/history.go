package pipeline

import (
	"net/netip"

	"github.com/sipguard/sipguard/sip"
)

// history is each source's count of dynamic bans, what the block
// threshold is compared with. The journal holds the whole history; the
// counts of the sources seen lately are kept here, at most max of them,
// so that a batch is judged without waiting for the SD card.
type history struct {
	journal Journal // nil: the history lives in memory only
	max     int
	counts  map[netip.Prefix]int
	missing []netip.Prefix // scratch for load
}

func newHistory(max int) *history {
	return &history{max: max, counts: make(map[netip.Prefix]int)}
}

// load reads from the journal, in one read, the counts of a batch's
// sources not in memory.
func (h *history) load(batch []sip.Decision) {
	h.missing = h.missing[:0]
	for _, d := range batch {
		if d.Action == sip.Refresh {
			continue
		}
		if _, ok := h.counts[d.Source.Masked()]; !ok {
			h.missing = append(h.missing, d.Source.Masked())
		}
	}
	if len(h.missing) == 0 {
		return
	}
	var counts []int
	if h.journal != nil {
		var err error
		if counts, err = h.journal.BanCounts(h.missing...); err != nil {
			counts = nil // counted from zero: a ban is never held up by the card
		}
	}
	for i, p := range h.missing {
		n := 0
		if i < len(counts) {
			n = counts[i]
		}
		h.set(p, n)
	}
}

// set keeps n for p, forgetting another source's count when full: the
// journal still has it.
func (h *history) set(p netip.Prefix, n int) {
	if _, ok := h.counts[p]; !ok && len(h.counts) >= h.max {
		for q := range h.counts { // any one: map order is random
			delete(h.counts, q)
			break
		}
	}
	h.counts[p] = n
}

// count returns p's count.
func (h *history) count(p netip.Prefix) int { return h.counts[p] }

// add counts one more ban of p and returns its count.
func (h *history) add(p netip.Prefix) int {
	n := h.counts[p] + 1
	h.set(p, n)
	return n
}
