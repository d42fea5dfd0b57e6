package netfilter

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// Ban adds or refreshes dynamic bans, all in one atomic batch: each ban
// lasts its Timeout from now, whether or not it was there before. A
// network ban (Bits shorter than the ban prefix) that lies inside a wider
// network ban lasting longer changes nothing; one that covers narrower
// network bans replaces those that end sooner. The bans outlive the
// daemon: they stay in the kernel until they expire.
func (f *Firewall) Ban(bans []Ban) error {
	return f.put(bans, "ban", fmt.Sprintf("apply %d bans", len(bans)), setDynamic, setDynNet)
}

// put checks bans (or holds: what names one, doing names the whole) and
// puts them in force from now in the sets of hostBase and netBase.
func (f *Firewall) put(bans []Ban, what, doing, hostBase, netBase string) error {
	for i, b := range bans {
		if b.Timeout < time.Second || b.Timeout > MaxBanTimeout {
			return fmt.Errorf("%s %d (%v): timeout %v is outside 1s–%v", what, i, b.Addr, b.Timeout, MaxBanTimeout)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	prefix4, prefix6 := f.banPrefixes()
	hosts, nets, err := splitBans(bans, prefix4, prefix6)
	if err == nil {
		err = f.restart(hostBase, netBase, hosts, nets, prefix4, prefix6)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return nil
}

// splitBans sorts bans into those of one source, keyed by their ban
// prefix, and network bans, as masked prefixes.
func splitBans(bans []Ban, prefix4, prefix6 int) (hosts []Ban, nets []netBan, err error) {
	for i, b := range bans {
		if !b.Addr.IsValid() {
			return nil, nil, fmt.Errorf("ban %d: invalid address", i)
		}
		a := b.Addr.Unmap()
		limit := prefix6
		if a.Is4() {
			limit = prefix4
		}
		if b.Bits < 0 || b.Bits > a.BitLen() {
			return nil, nil, fmt.Errorf("ban %d (%v/%d): not a prefix length of its family", i, a, b.Bits)
		}
		if b.Bits == 0 || b.Bits >= limit {
			hosts = append(hosts, Ban{Addr: a, Timeout: b.Timeout})
			continue
		}
		p, _ := a.Prefix(b.Bits)
		nets = append(nets, netBan{Prefix: p, Timeout: b.Timeout})
	}
	return hosts, nets, nil
}

// restart puts bans (or holds) in force from now, in one batch: those of
// one source in the hash sets hostBase+"4" and +"6", the networks in the
// interval sets netBase+"4" and +"6". A network element that ends between
// the read of its set and the batch makes the kernel refuse the batch: it
// is built again once from a new read.
func (f *Firewall) restart(hostBase, netBase string, hosts []Ban, nets []netBan, prefix4, prefix6 int) error {
	ps := make([]netip.Prefix, len(nets))
	for i, n := range nets {
		ps[i] = n.Prefix
	}
	for try := 0; ; try++ {
		b := &batch{conn: f.conn}
		// A plain add leaves an existing element's timeout as it was, and a
		// delete of a missing element fails the batch: add, delete, add
		// again makes every ban start afresh whatever the kernel held.
		err := f.queueHosts(b, hostBase, len(hosts), func(i int) (netip.Addr, time.Duration) { return hosts[i].Addr, hosts[i].Timeout },
			prefix4, prefix6, func(b *batch, set *nftables.Set, elems []nftables.SetElement) {
				b.addElements(set, elems)
				b.delElements(set, elems)
				b.addElements(set, elems)
			})
		if err == nil && len(nets) > 0 {
			err = f.queueNets(b, netBase, ps, func(m netBans) {
				for _, n := range nets {
					m.ban(n.Prefix, n.Timeout.Round(time.Millisecond))
				}
			})
		}
		if err == nil {
			err = f.flush(b)
		}
		if err != nil && len(nets) > 0 && try == 0 && errors.Is(err, ErrNoRuleset) {
			continue
		}
		return err
	}
}

// netBan is a network ban to apply.
type netBan struct {
	netip.Prefix
	Timeout time.Duration
}

// Hold holds sources to a trickle of SIP requests over UDP for each
// one's Timeout, in one batch: three requests, then one every half second.
// The detection holds a source three failures away from a ban, so that it
// can still reach the ban while the ban, however late, finds no more
// guesses through. A hold of a network (Bits shorter than the ban prefix)
// holds each source in it so.
func (f *Firewall) Hold(holds []Ban) error {
	return f.put(holds, "hold", fmt.Sprintf("hold %d sources", len(holds)), setHold, setHoldNet)
}

// Unban lifts dynamic bans, in one batch: afterwards nothing of the
// prefixes is banned. A prefix lifts the bans of the sources it covers (of
// the one it falls in, when longer than the ban prefix) and the network
// bans over it; a wider network ban keeps the rest of its network.
// Lifting a ban that is not there is not an error.
func (f *Firewall) Unban(prefixes []netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	prefix4, prefix6 := f.banPrefixes()
	var (
		hosts       []netip.Addr
		nets, wider []netip.Prefix
	)
	for i, p := range prefixes {
		if !p.IsValid() {
			return fmt.Errorf("lift %d bans: ban %d: invalid prefix", len(prefixes), i)
		}
		a := p.Addr().Unmap()
		limit := prefix6
		if a.Is4() {
			limit = prefix4
		}
		bits := min(p.Bits(), a.BitLen())
		if bits >= limit {
			hosts = append(hosts, a)
			bits = limit
		}
		q, _ := a.Prefix(bits)
		nets = append(nets, q)
		if bits < limit {
			wider = append(wider, q)
		}
	}
	// The bans of the sources inside a network lifted go too.
	if len(wider) > 0 {
		for _, fam := range []family{ipv4, ipv6} {
			elems, err := f.conn.GetSetElements(&nftables.Set{Table: newTable(), Name: setDynamic + fam.suffix, HasTimeout: true})
			if err != nil {
				if errors.Is(err, unix.ENOENT) {
					return ErrNoRuleset
				}
				return fmt.Errorf("lift %d bans: read bans: %w", len(prefixes), err)
			}
			for _, e := range elems {
				if a, ok := netip.AddrFromSlice(e.Key); ok && slices.ContainsFunc(wider, func(w netip.Prefix) bool { return w.Contains(a) }) {
					hosts = append(hosts, a)
				}
			}
		}
	}
	for try := 0; ; try++ {
		b := &batch{conn: f.conn}
		err := f.queueHosts(b, setDynamic, len(hosts), func(i int) (netip.Addr, time.Duration) { return hosts[i], time.Second },
			prefix4, prefix6, func(b *batch, set *nftables.Set, elems []nftables.SetElement) {
				b.addElements(set, elems) // so that the delete cannot fail
				b.delElements(set, elems)
			})
		if err == nil {
			err = f.queueNets(b, setDynNet, nets, func(m netBans) {
				for _, p := range nets {
					m.lift(p)
				}
			})
		}
		if err == nil {
			err = f.flush(b)
		}
		if err != nil && try == 0 && errors.Is(err, ErrNoRuleset) {
			continue // a network element ended since it was read: read again
		}
		if err != nil {
			return fmt.Errorf("lift %d bans: %w", len(prefixes), err)
		}
		return nil
	}
}

// flush sends a batch; a missing table is ErrNoRuleset.
func (f *Firewall) flush(b *batch) error {
	if err := b.flush(); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return ErrNoRuleset
		}
		return err
	}
	return nil
}

// queueHosts builds the elements of n bans of one source each, split by
// family, and queues them with queue on b, on the ban-keyed sets set+"4"
// and set+"6" (the dynamic bans, the holds).
func (f *Firewall) queueHosts(b *batch, set string, n int, ban func(i int) (netip.Addr, time.Duration), prefix4, prefix6 int, queue func(*batch, *nftables.Set, []nftables.SetElement)) error {
	// No lookup of the table first: a ban waits for no extra round trip
	// to the kernel. A missing table fails the batch as a missing set.
	var e4, e6 []nftables.SetElement
	// One element per key, with the longest timeout asked: the kernel
	// refuses a batch that deletes an element twice.
	seen := make(map[string]int, n)
	for i := range n {
		a, timeout := ban(i)
		key, v4, err := banKey(a, prefix4, prefix6)
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
	for _, s := range []struct {
		name  string
		elems []nftables.SetElement
	}{{set + "4", e4}, {set + "6", e6}} {
		if len(s.elems) > 0 {
			queue(b, &nftables.Set{Table: newTable(), Name: s.name, HasTimeout: true}, s.elems)
		}
	}
	return nil
}

// queueNets reads the network bans in force of the families of prefixes
// (the ones change will touch), lets change edit them, and
// queues the difference on b: the elements that changed are deleted and
// added again with their new timeouts.
func (f *Firewall) queueNets(b *batch, base string, prefixes []netip.Prefix, change func(netBans)) error {
	have := netBans{}
	for _, fam := range []family{ipv4, ipv6} {
		if !slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Addr().Is4() == (fam == ipv4) }) {
			continue
		}
		elems, err := f.conn.GetSetElements(netSet(base, fam))
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return ErrNoRuleset
			}
			return fmt.Errorf("read network bans: %w", err)
		}
		for p, left := range netBansOf(elems) {
			have[p] = left
		}
	}
	want := maps.Clone(have)
	change(want)
	var del, add [2][]nftables.SetElement // by family: IPv4, IPv6
	fam := func(p netip.Prefix) int {
		if p.Addr().Is4() {
			return 0
		}
		return 1
	}
	for p, left := range have {
		if t, ok := want[p]; !ok || t != left {
			del[fam(p)] = append(del[fam(p)], netElements(p, 0)...)
		}
	}
	for p, t := range want {
		if old, ok := have[p]; (!ok || old != t) && t >= time.Millisecond {
			add[fam(p)] = append(add[fam(p)], netElements(p, t)...)
		}
	}
	for i, fam := range []family{ipv4, ipv6} {
		if len(del[i]) > 0 {
			b.delElements(netSet(base, fam), del[i])
		}
		if len(add[i]) > 0 {
			b.addElements(netSet(base, fam), add[i])
		}
	}
	return nil
}

// netSet names the interval set of networks of base (network bans, network
// holds) for a family.
func netSet(base string, f family) *nftables.Set {
	return &nftables.Set{Table: newTable(), Name: base + f.suffix, Interval: true, HasTimeout: true}
}

// netBans are network bans with their time left. The kernel's interval set
// refuses overlapping ranges, so the bans in it are kept disjoint: a ban
// inside a wider one, or over narrower ones, splits or replaces them.
type netBans map[netip.Prefix]time.Duration

// ban bans p for t: from now on, every address of p is banned at least
// until t from now, and p's own ban, if there was one, ends then.
func (m netBans) ban(p netip.Prefix, t time.Duration) {
	var kept []netip.Prefix
	for q, left := range m {
		switch {
		case !q.Overlaps(p):
		case q == p:
			delete(m, q)
		case q.Bits() < p.Bits(): // a wider ban holds p
			if left >= t {
				return
			}
			delete(m, q)
			for _, r := range subtract(q, []netip.Prefix{p}) {
				m[r] = left
			}
		case left > t: // a narrower ban lasting longer stays
			kept = append(kept, q)
		default:
			delete(m, q)
		}
	}
	for _, r := range subtract(p, kept) {
		m[r] = t
	}
}

// lift lifts every network ban over p; a wider ban keeps the rest of its
// network.
func (m netBans) lift(p netip.Prefix) {
	for q, left := range m {
		if !q.Overlaps(p) {
			continue
		}
		delete(m, q)
		if q.Bits() < p.Bits() {
			for _, r := range subtract(q, []netip.Prefix{p}) {
				m[r] = left
			}
		}
	}
}

// subtract returns the prefixes that cover p but none of holes.
func subtract(p netip.Prefix, holes []netip.Prefix) []netip.Prefix {
	inside := false
	for _, h := range holes {
		if !h.Overlaps(p) {
			continue
		}
		if h.Bits() <= p.Bits() {
			return nil // a hole covers p
		}
		inside = true
	}
	if !inside {
		return []netip.Prefix{p}
	}
	lo, hi := halves(p)
	return append(subtract(lo, holes), subtract(hi, holes)...)
}

// halves splits p into its two prefixes one bit longer.
func halves(p netip.Prefix) (lo, hi netip.Prefix) {
	bits := p.Bits()
	b := p.Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 12
	}
	lo = netip.PrefixFrom(p.Addr(), bits+1)
	b[off+bits/8] |= 0x80 >> (bits % 8)
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		a = a.Unmap()
	}
	return lo, netip.PrefixFrom(a, bits+1)
}

// netElements returns the interval elements of p: its first address and,
// unless p runs to the end of the address space, the address after its
// last, both with timeout t (0 for a delete).
func netElements(p netip.Prefix, t time.Duration) []nftables.SetElement {
	if p.Addr().Is4() {
		sp := spanOf4(p)
		out := []nftables.SetElement{{Key: key4(sp.lo), Timeout: t}}
		if end, ok := succ4(sp.hi); ok {
			out = append(out, nftables.SetElement{Key: key4(end), IntervalEnd: true})
		}
		return out
	}
	sp := spanOf6(p)
	out := []nftables.SetElement{{Key: key6(sp.lo), Timeout: t}}
	if end, ok := succ6(sp.hi); ok {
		out = append(out, nftables.SetElement{Key: key6(end), IntervalEnd: true})
	}
	return out
}

// netBansOf reads a network ban set's elements back as prefixes with their
// time left. A range that is not one prefix (the set holds none) is read
// as the prefixes that make it up.
func netBansOf(elems []nftables.SetElement) netBans {
	sorted := slices.Clone(elems)
	slices.SortFunc(sorted, func(a, b nftables.SetElement) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return boolCmp(!a.IntervalEnd, !b.IntervalEnd)
	})
	out := netBans{}
	for i := 0; i < len(sorted); i++ {
		e := sorted[i]
		if e.IntervalEnd {
			continue
		}
		var end []byte
		if i+1 < len(sorted) && sorted[i+1].IntervalEnd {
			end = sorted[i+1].Key
			i++
		}
		for _, p := range rangePrefixes(e.Key, end) {
			out[p] = e.Expires
		}
	}
	return out
}

// rangePrefixes returns the prefixes of the range [start, end) of set
// keys (end nil: to the end of the address space).
func rangePrefixes(start, end []byte) []netip.Prefix {
	first, ok := netip.AddrFromSlice(start)
	if !ok {
		return nil
	}
	last := lastOf(netip.PrefixFrom(first, 0)) // the family's last address
	if end != nil {
		e, ok := netip.AddrFromSlice(end)
		if !ok {
			return nil
		}
		last = e.Prev()
	}
	var out []netip.Prefix
	for a := first; a.IsValid() && a.Compare(last) <= 0; {
		bits := a.BitLen()
		// the widest prefix that starts at a and ends at or before last
		for bits > 0 {
			p, _ := a.Prefix(bits - 1)
			if p.Addr() != a || lastOf(p).Compare(last) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(a, bits)
		out = append(out, p)
		a = lastOf(p).Next()
	}
	return out
}

// lastOf returns the last address of p.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Bans lists the dynamic bans in force, with their time left: the bans of
// one source, then the network bans, each in address order.
func (f *Firewall) Bans() ([]BanEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireTable(); err != nil {
		return nil, err
	}
	var out, nets []BanEntry
	prefix4, prefix6 := f.banPrefixes()
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
			bits := prefix4
			if !a.Is4() {
				bits = prefix6
			}
			out = append(out, BanEntry{Prefix: netip.PrefixFrom(a, bits), Expires: e.Expires})
		}
		elems, err = f.conn.GetSetElements(netSet(setDynNet, fam))
		if err != nil {
			return nil, fmt.Errorf("read network bans: %w", err)
		}
		for p, left := range netBansOf(elems) {
			nets = append(nets, BanEntry{Prefix: p, Expires: left})
		}
	}
	byAddr := func(a, b BanEntry) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) }
	slices.SortFunc(out, byAddr)
	slices.SortFunc(nets, byAddr)
	return append(out, nets...), nil
}

// banPrefixes are the IPv4 and IPv6 ban prefix lengths of the applied
// ruleset, read back from the kernel when this process did not apply it
// (the CLI).
func (f *Firewall) banPrefixes() (prefix4, prefix6 int) {
	if f.applied != nil {
		return f.applied.banBits4(), f.applied.BanPrefix6
	}
	d := Defaults()
	prefix4, prefix6 = d.BanPrefix4, d.BanPrefix6
	if st, err := f.read(); err == nil {
		if n, ok := banPrefixFromComment(st.comment, ipv4); ok {
			prefix4 = n
		}
		if n, ok := banPrefixFromComment(st.comment, ipv6); ok {
			prefix6 = n
		}
	}
	return prefix4, prefix6
}

// banKey returns the set key for a ban on a: the address masked to its
// family's ban prefix.
func banKey(a netip.Addr, prefix4, prefix6 int) (key []byte, v4 bool, err error) {
	if !a.IsValid() {
		return nil, false, errors.New("invalid address")
	}
	a = a.Unmap()
	bits := prefix6
	if a.Is4() {
		bits = prefix4
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return nil, false, err
	}
	return p.Addr().AsSlice(), a.Is4(), nil
}

// RemovePermanent takes the prefixes off the kernel's permanent list, in
// one batch: afterwards no address of theirs is on it. It is for a process
// that does not own the ruleset (the command line with no daemon running):
// the next Apply brings the list to its Ruleset's content whatever this
// did. A prefix not on the list is not an error.
func (f *Firewall) RemovePermanent(prefixes []netip.Prefix) error {
	for i, p := range prefixes {
		if !p.IsValid() {
			return fmt.Errorf("remove permanent ban %d: invalid prefix", i)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := newTable()
	b := &batch{conn: f.conn}
	overlaps := func(q netip.Prefix) bool {
		return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Overlaps(q) })
	}
	for _, fam := range []family{ipv4, ipv6} {
		hosts := &nftables.Set{Table: t, Name: hostSet(setPermanent, fam)}
		elems, err := f.conn.GetSetElements(hosts)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return ErrNoRuleset
			}
			return fmt.Errorf("read permanent bans: %w", err)
		}
		var del []nftables.SetElement
		for _, e := range elems {
			if a, ok := netip.AddrFromSlice(e.Key); ok && overlaps(netip.PrefixFrom(a, a.BitLen())) {
				del = append(del, nftables.SetElement{Key: e.Key})
			}
		}
		if len(del) > 0 {
			b.delElements(hosts, del)
		}
		nets := &nftables.Set{Table: t, Name: setPermanent + fam.suffix, Interval: true}
		if elems, err = f.conn.GetSetElements(nets); err != nil {
			return fmt.Errorf("read permanent bans: %w", err)
		}
		var add []nftables.SetElement
		del = nil
		for iv := range intervalsOf(elems) {
			var end []byte
			if iv.end != "" {
				end = []byte(iv.end)
			}
			pieces := rangePrefixes([]byte(iv.start), end)
			if !slices.ContainsFunc(pieces, overlaps) {
				continue
			}
			del = append(del, iv.elements()...)
			for _, q := range pieces {
				for _, r := range subtract(q, prefixes) {
					add = append(add, netElements(r, 0)...)
				}
			}
		}
		if len(del) > 0 {
			b.delElements(nets, del)
		}
		if len(add) > 0 {
			b.addElements(nets, add)
		}
	}
	if err := f.flush(b); err != nil {
		return fmt.Errorf("remove %d permanent bans: %w", len(prefixes), err)
	}
	return nil
}
