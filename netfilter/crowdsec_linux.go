package netfilter

import (
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// crowdSecSlack is how far an element's time left may be from the one
// asked before it is loaded again: the time a sync takes, and the
// rounding of a decision's duration, are not a change.
const crowdSecSlack = 2 * time.Second

// SetCrowdSec makes the CrowdSec sets hold bans, and only them: each ban
// covers its network exactly (a single address is Bits 32 or 128, never
// widened to the ban prefix) and lasts its Timeout from now. Overlapping
// bans are allowed: an address is banned as long as the longest ban over
// it. Only the difference with the kernel's content is sent, the removals
// and the first additions in one atomic batch, large additions in further
// batches. The sets' elements end on their own timeouts, whether or not
// the daemon runs. It returns the ranges in force per family.
//
// One Firewall, the daemon's, loads the sets: it remembers what it loaded
// and reads the kernel back only for its first load, or after a failure.
func (f *Firewall) SetCrowdSec(bans []Ban) (v4, v6 int, err error) {
	var fams [2][]csBan // IPv4, IPv6
	for i, b := range bans {
		if !b.Addr.IsValid() {
			return 0, 0, fmt.Errorf("crowdsec ban %d: invalid address", i)
		}
		a := b.Addr.Unmap()
		if b.Bits < 1 || b.Bits > a.BitLen() {
			return 0, 0, fmt.Errorf("crowdsec ban %d (%v/%d): not a prefix length of its family", i, a, b.Bits)
		}
		if b.Timeout < time.Second || b.Timeout > MaxBanTimeout {
			return 0, 0, fmt.Errorf("crowdsec ban %d (%v/%d): timeout %v is outside 1s–%v", i, a, b.Bits, b.Timeout, MaxBanTimeout)
		}
		p, _ := a.Prefix(b.Bits)
		fam := 1
		if a.Is4() {
			fam = 0
		}
		fams[fam] = append(fams[fam], csBan{lo: p.Addr(), hi: lastOf(p), left: b.Timeout.Round(time.Millisecond)})
	}
	want := [2]map[csRange]time.Duration{disjoint(fams[0]), disjoint(fams[1])}
	f.mu.Lock()
	defer f.mu.Unlock()
	for try := 0; ; try++ {
		err := f.syncCrowdSec(want, time.Now())
		if err != nil && try == 0 {
			// The kernel holds something else than what was loaded last
			// (the table was replaced): read it back and try again.
			f.crowdsec = nil
			continue
		}
		if err != nil {
			f.crowdsec = nil
			return 0, 0, fmt.Errorf("load %d crowdsec decisions: %w", len(bans), err)
		}
		return len(want[0]), len(want[1]), nil
	}
}

// csBan is a ban of the range lo–hi for left.
type csBan struct {
	lo, hi netip.Addr
	left   time.Duration
}

// csRange is one range of a CrowdSec set: its first address and the
// address after its last (invalid when it runs to the end of the family).
type csRange struct{ start, end netip.Addr }

// disjoint turns bans of one family, overlapping or not, into disjoint
// ranges, each banned for the longest of the bans over it; neighbouring
// ranges banned as long are merged. It sweeps the bans' ends in order,
// keeping the bans open at each point in a heap: n log n for n bans.
func disjoint(bans []csBan) map[csRange]time.Duration {
	type edge struct {
		at   netip.Addr
		open bool
		ban  int
	}
	edges := make([]edge, 0, 2*len(bans))
	for i, b := range bans {
		edges = append(edges, edge{b.lo, true, i})
		if end := b.hi.Next(); end.IsValid() {
			edges = append(edges, edge{end, false, i})
		}
	}
	slices.SortFunc(edges, func(a, b edge) int { return a.at.Compare(b.at) })
	out := make(map[csRange]time.Duration, len(bans))
	var (
		open    = &leftHeap{}
		closed  = make([]bool, len(bans))
		cur     csRange // the range being built
		curLeft time.Duration
	)
	flush := func(end netip.Addr) {
		if curLeft > 0 {
			cur.end = end
			out[cur] = curLeft
		}
	}
	for i := 0; i < len(edges); {
		at := edges[i].at
		for ; i < len(edges) && edges[i].at == at; i++ {
			if edges[i].open {
				heap.Push(open, leftOf{bans[edges[i].ban].left, edges[i].ban})
			} else {
				closed[edges[i].ban] = true
			}
		}
		for open.Len() > 0 && closed[(*open)[0].ban] {
			heap.Pop(open)
		}
		var left time.Duration
		if open.Len() > 0 {
			left = (*open)[0].left
		}
		if left != curLeft {
			flush(at)
			cur, curLeft = csRange{start: at}, left
		}
	}
	flush(netip.Addr{})
	return out
}

// leftOf is a ban open at a point of the sweep.
type leftOf struct {
	left time.Duration
	ban  int
}

// leftHeap keeps the longest ban first.
type leftHeap []leftOf

func (h leftHeap) Len() int           { return len(h) }
func (h leftHeap) Less(i, j int) bool { return h[i].left > h[j].left }
func (h leftHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *leftHeap) Push(x any)        { *h = append(*h, x.(leftOf)) }
func (h *leftHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// csRanges reads a CrowdSec set's elements back as ranges with their time
// left.
func csRanges(elems []nftables.SetElement) map[csRange]time.Duration {
	sorted := slices.Clone(elems)
	slices.SortFunc(sorted, func(a, b nftables.SetElement) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return boolCmp(!a.IntervalEnd, !b.IntervalEnd)
	})
	out := make(map[csRange]time.Duration, len(sorted)/2+1)
	for i := 0; i < len(sorted); i++ {
		e := sorted[i]
		start, ok := netip.AddrFromSlice(e.Key)
		if e.IntervalEnd || !ok {
			continue
		}
		r := csRange{start: start}
		if i+1 < len(sorted) && sorted[i+1].IntervalEnd {
			r.end, _ = netip.AddrFromSlice(sorted[i+1].Key)
			i++
		}
		out[r] = e.Expires
	}
	return out
}

// elements returns r's interval elements with timeout t (0 for a delete).
func (r csRange) elements(t time.Duration) []nftables.SetElement {
	out := []nftables.SetElement{{Key: r.start.AsSlice(), Timeout: t}}
	if r.end.IsValid() {
		out = append(out, nftables.SetElement{Key: r.end.AsSlice(), IntervalEnd: true})
	}
	return out
}

// syncCrowdSec sends the difference between want (by family: IPv4,
// IPv6) and what was loaded last, or the kernel's content when that is
// unknown; no read-back otherwise. A range that ended on its own timeout
// may be gone from the kernel while still remembered, or still there a
// moment longer: every change is queued so that it holds either way. A
// removal adds the range (for a second) before deleting it, so the delete
// cannot fail; a range whose end changed is added, deleted and added
// again, so it starts afresh whatever the kernel held; a new range is
// added.
func (f *Firewall) syncCrowdSec(want [2]map[csRange]time.Duration, now time.Time) error {
	if f.crowdsec == nil {
		var loaded [2]map[csRange]time.Time
		for i, fam := range []family{ipv4, ipv6} {
			elems, err := f.conn.GetSetElements(netSet(setCrowdSec, fam))
			if err != nil {
				if errors.Is(err, unix.ENOENT) {
					return ErrNoRuleset
				}
				return fmt.Errorf("read crowdsec set: %w", err)
			}
			loaded[i] = map[csRange]time.Time{}
			for r, left := range csRanges(elems) {
				loaded[i][r] = now.Add(left)
			}
		}
		f.crowdsec = &loaded
	}
	// Removals and the first loads go in one batch, so a decision
	// changed is never out of force; further loads follow in batches of
	// bounded size.
	const perBatch = elemsPerMsg * msgsPerBatch / 2
	b := &batch{conn: f.conn}
	queued := 0
	next := [2]map[csRange]time.Time{}
	for i, fam := range []family{ipv4, ipv6} {
		set := netSet(setCrowdSec, fam)
		have := f.crowdsec[i]
		next[i] = make(map[csRange]time.Time, len(want[i]))
		var del, renew []nftables.SetElement
		var add []csRange
		for r := range have {
			if _, ok := want[i][r]; !ok {
				del = append(del, r.elements(time.Second)...)
			}
		}
		for r, t := range want[i] {
			next[i][r] = now.Add(t)
			end, ok := have[r]
			switch {
			case !ok:
				add = append(add, r)
			case (now.Add(t).Sub(end)).Abs() > crowdSecSlack:
				renew = append(renew, r.elements(t)...)
			default:
				next[i][r] = end
			}
		}
		if len(del) > 0 {
			b.addElements(set, del)
			b.delElements(set, del)
		}
		if len(renew) > 0 {
			b.addElements(set, renew)
			b.delElements(set, renew)
			b.addElements(set, renew)
		}
		slices.SortFunc(add, func(a, b csRange) int { return a.start.Compare(b.start) })
		for chunk := range slices.Chunk(add, perBatch) {
			if queued+len(chunk) > perBatch && queued > 0 {
				if err := f.flush(b); err != nil {
					return err
				}
				b, queued = &batch{conn: f.conn}, 0
			}
			out := make([]nftables.SetElement, 0, 2*len(chunk))
			for _, r := range chunk {
				out = append(out, r.elements(want[i][r])...)
			}
			b.addElements(set, out)
			queued += len(chunk)
		}
	}
	if err := f.flush(b); err != nil {
		return err
	}
	f.crowdsec = &next
	return nil
}

// CrowdSecBans lists the CrowdSec decisions in force in the kernel, with
// their time left, in no particular order.
func (f *Firewall) CrowdSecBans() ([]BanEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireTable(); err != nil {
		return nil, err
	}
	var out []BanEntry
	for _, fam := range []family{ipv4, ipv6} {
		elems, err := f.conn.GetSetElements(netSet(setCrowdSec, fam))
		if err != nil {
			return nil, fmt.Errorf("read crowdsec set: %w", err)
		}
		for p, left := range netBansOf(elems) {
			out = append(out, BanEntry{Prefix: p, Expires: left})
		}
	}
	return out, nil
}
