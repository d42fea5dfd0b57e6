package netfilter

import (
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
// the daemon runs. It returns the networks in force per family.
func (f *Firewall) SetCrowdSec(bans []Ban) (v4, v6 int, err error) {
	want := netBans{}
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
		want.ban(p, b.Timeout.Round(time.Millisecond))
	}
	for p := range want {
		if p.Addr().Is4() {
			v4++
		} else {
			v6++
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for try := 0; ; try++ {
		err := f.syncCrowdSec(want)
		if err != nil && try == 0 {
			// An element ended between the read and the batch: read again.
			continue
		}
		if err != nil {
			return 0, 0, fmt.Errorf("load %d crowdsec decisions: %w", len(bans), err)
		}
		return v4, v6, nil
	}
}

// syncCrowdSec reads the CrowdSec sets and sends the difference with want.
func (f *Firewall) syncCrowdSec(want netBans) error {
	var del, add [2][]netip.Prefix // by family: IPv4, IPv6
	idx := func(p netip.Prefix) int {
		if p.Addr().Is4() {
			return 0
		}
		return 1
	}
	have := netBans{}
	for _, fam := range []family{ipv4, ipv6} {
		elems, err := f.conn.GetSetElements(netSet(setCrowdSec, fam))
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return ErrNoRuleset
			}
			return fmt.Errorf("read crowdsec set: %w", err)
		}
		for p, left := range netBansOf(elems) {
			have[p] = left
		}
	}
	for p, left := range have {
		if t, ok := want[p]; !ok || (t-left).Abs() > crowdSecSlack {
			del[idx(p)] = append(del[idx(p)], p)
		}
	}
	for p, t := range want {
		if left, ok := have[p]; !ok || (t-left).Abs() > crowdSecSlack {
			add[idx(p)] = append(add[idx(p)], p)
		}
	}
	// Removals and the first additions go in one batch, so a decision
	// changed is never out of force; further additions follow in batches
	// of bounded size.
	const perBatch = elemsPerMsg * msgsPerBatch / 2
	b := &batch{conn: f.conn}
	queued := 0
	for i, fam := range []family{ipv4, ipv6} {
		set := netSet(setCrowdSec, fam)
		if len(del[i]) > 0 {
			b.delElements(set, crowdSecElements(del[i], nil))
		}
		slices.SortFunc(add[i], func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		for chunk := range slices.Chunk(add[i], perBatch) {
			if queued+len(chunk) > perBatch && queued > 0 {
				if err := f.flush(b); err != nil {
					return err
				}
				b, queued = &batch{conn: f.conn}, 0
			}
			b.addElements(set, crowdSecElements(chunk, want))
			queued += len(chunk)
		}
	}
	return f.flush(b)
}

// crowdSecElements returns the interval elements of ps, with their
// timeouts from want (nil: for a delete).
func crowdSecElements(ps []netip.Prefix, want netBans) []nftables.SetElement {
	out := make([]nftables.SetElement, 0, 2*len(ps))
	for _, p := range ps {
		out = append(out, netElements(p, want[p])...)
	}
	return out
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
