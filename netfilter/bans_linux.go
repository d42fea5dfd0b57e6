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

// Ban adds or refreshes dynamic bans, all in one atomic batch: each ban
// lasts its Timeout from now, whether or not the address was banned before.
// The bans outlive the daemon: they stay in the kernel until they expire.
func (f *Firewall) Ban(bans []Ban) error {
	for i, b := range bans {
		if b.Timeout < time.Second || b.Timeout > MaxBanTimeout {
			return fmt.Errorf("ban %d (%v): timeout %v is outside 1s–%v", i, b.Addr, b.Timeout, MaxBanTimeout)
		}
	}
	// A plain add leaves an existing element's timeout as it was, and a
	// delete of a missing element fails the batch: add, delete, add again
	// makes every ban start afresh whatever the kernel held.
	err := f.updateSet(setDynamic, len(bans), func(i int) (netip.Addr, time.Duration) { return bans[i].Addr, bans[i].Timeout },
		func(b *batch, set *nftables.Set, elems []nftables.SetElement) {
			b.addElements(set, elems)
			b.delElements(set, elems)
			b.addElements(set, elems)
		})
	if err != nil {
		return fmt.Errorf("apply %d bans: %w", len(bans), err)
	}
	return nil
}

// Hold holds sources to a trickle of SIP requests over UDP for each
// one's Timeout, in one batch: three requests, then one every half second.
// The detection holds a source three failures away from a ban, so that it
// can still reach the ban while the ban, however late, finds no more
// guesses through.
func (f *Firewall) Hold(holds []Ban) error {
	for i, b := range holds {
		if b.Timeout < time.Second || b.Timeout > MaxBanTimeout {
			return fmt.Errorf("hold %d (%v): timeout %v is outside 1s–%v", i, b.Addr, b.Timeout, MaxBanTimeout)
		}
	}
	err := f.updateSet(setHold, len(holds), func(i int) (netip.Addr, time.Duration) { return holds[i].Addr, holds[i].Timeout },
		func(b *batch, set *nftables.Set, elems []nftables.SetElement) {
			b.addElements(set, elems)
			b.delElements(set, elems)
			b.addElements(set, elems)
		})
	if err != nil {
		return fmt.Errorf("hold %d sources: %w", len(holds), err)
	}
	return nil
}

// Unban lifts dynamic bans, in one batch. Lifting a ban that is not there
// is not an error.
func (f *Firewall) Unban(addrs []netip.Addr) error {
	err := f.updateSet(setDynamic, len(addrs), func(i int) (netip.Addr, time.Duration) { return addrs[i], time.Second },
		func(b *batch, set *nftables.Set, elems []nftables.SetElement) {
			b.addElements(set, elems) // so that the delete cannot fail
			b.delElements(set, elems)
		})
	if err != nil {
		return fmt.Errorf("lift %d bans: %w", len(addrs), err)
	}
	return nil
}

// updateSet builds the elements of n bans, split by family, and queues
// them with queue in one batch, on the ban-keyed sets set+"4" and set+"6"
// (the dynamic bans, the holds).
func (f *Firewall) updateSet(set string, n int, ban func(i int) (netip.Addr, time.Duration), queue func(*batch, *nftables.Set, []nftables.SetElement)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	// No lookup of the table first: a ban waits for no extra round trip
	// to the kernel. A missing table fails the batch as a missing set.
	var e4, e6 []nftables.SetElement
	// One element per key, with the longest timeout asked: the kernel
	// refuses a batch that deletes an element twice.
	seen := make(map[string]int, n)
	prefix6 := f.banPrefix6()
	for i := range n {
		a, timeout := ban(i)
		key, v4, err := banKey(a, prefix6)
		if err != nil {
			return fmt.Errorf("ban %d (%v): %w", i, a, err)
		}
		e := nftables.SetElement{Key: key, Timeout: timeout.Round(time.Millisecond)}
		elems := &e6
		if v4 {
			elems = &e4
		}
		if j, ok := seen[string(key)]; ok {
			(*elems)[j].Timeout = max((*elems)[j].Timeout, e.Timeout)
			continue
		}
		seen[string(key)] = len(*elems)
		*elems = append(*elems, e)
	}
	b := &batch{conn: f.conn}
	for _, s := range []struct {
		name  string
		elems []nftables.SetElement
	}{{set + "4", e4}, {set + "6", e6}} {
		if len(s.elems) > 0 {
			queue(b, &nftables.Set{Table: newTable(), Name: s.name, HasTimeout: true}, s.elems)
		}
	}
	if err := b.flush(); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return ErrNoRuleset
		}
		return err
	}
	return nil
}

// Bans lists the dynamic bans in force, with their time left.
func (f *Firewall) Bans() ([]BanEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireTable(); err != nil {
		return nil, err
	}
	var out []BanEntry
	prefix6 := f.banPrefix6()
	for _, fam := range []family{ipv4, ipv6} {
		elems, err := f.conn.GetSetElements(&nftables.Set{Table: newTable(), Name: setDynamic + fam.suffix, HasTimeout: true})
		if err != nil {
			return nil, fmt.Errorf("read bans: %w", err)
		}
		for _, e := range elems {
			a, ok := netip.AddrFromSlice(e.Key)
			if !ok {
				continue
			}
			bits := 32
			if !a.Is4() {
				bits = prefix6
			}
			out = append(out, BanEntry{Prefix: netip.PrefixFrom(a, bits), Expires: e.Expires})
		}
	}
	slices.SortFunc(out, func(a, b BanEntry) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out, nil
}

// banPrefix6 is the IPv6 ban prefix length of the applied ruleset, read
// back from the kernel when this process did not apply it (the CLI).
func (f *Firewall) banPrefix6() int {
	if f.applied != nil {
		return f.applied.BanPrefix6
	}
	if st, err := f.read(); err == nil {
		if n, ok := banPrefixFromComment(st.comment); ok {
			return n
		}
	}
	return Defaults().BanPrefix6
}

// banKey returns the set key for a ban on a: the IPv4 address, or the IPv6
// address masked to the ban prefix.
func banKey(a netip.Addr, prefix6 int) (key []byte, v4 bool, err error) {
	if !a.IsValid() {
		return nil, false, errors.New("invalid address")
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return b[:], true, nil
	}
	p, err := a.Prefix(prefix6)
	if err != nil {
		return nil, false, err
	}
	b := p.Addr().As16()
	return b[:], false, nil
}
