package netfilter

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Firewall applies sipguard's ruleset to the kernel of one network
// namespace. Its methods are safe for concurrent use; each sends at most one
// atomic batch, except ReplaceSource, which loads in chunks and then swaps
// atomically.
type Firewall struct {
	mu      sync.Mutex
	conn    *nftables.Conn
	live    slots
	applied *Ruleset          // the last Ruleset applied, nil before Apply
	sizes   map[Source][2]int // entries loaded per source (IPv4, IPv6)
	// crowdsec is what SetCrowdSec loaded last, with each range's end:
	// nil when unknown, then read back from the kernel.
	crowdsec *[2]map[csRange]time.Time
}

// Open connects to nftables. It changes nothing in the kernel until Apply.
func Open(opts ...Option) (*Firewall, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	copts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(bigBuffers)}
	if o.netns != 0 {
		copts = append(copts, nftables.WithNetNSFd(o.netns))
	}
	conn, err := nftables.New(copts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nftables: %w", err)
	}
	return &Firewall{conn: conn, live: defaultSlots(), sizes: map[Source][2]int{}}, nil
}

// socketBuffer is the netlink socket's send and receive buffer: a bulk load
// sends a few megabytes per batch, and the kernel acknowledges every message.
const socketBuffer = 8 << 20

// bigBuffers raises the socket's buffers past the system default (which
// would cap a batch at about 200 KB); it needs CAP_NET_ADMIN, as nftables
// itself does.
func bigBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_SNDBUFFORCE, unix.SO_RCVBUFFORCE} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, socketBuffer); e != nil {
				serr = fmt.Errorf("netlink socket buffer: %w", e)
			}
		}
	})
	return errors.Join(err, serr)
}

// Close closes the netlink connection. The ruleset stays in the kernel: use
// Remove to take it out.
func (f *Firewall) Close() error { return f.conn.CloseLasting() }

// kernelState is what Apply needs to know of the table in the kernel.
type kernelState struct {
	table    bool
	sets     map[string]*nftables.Set
	chains   map[string]bool
	counters map[string]bool
	comment  string
}

func (f *Firewall) read() (*kernelState, error) {
	st := &kernelState{sets: map[string]*nftables.Set{}, chains: map[string]bool{}, counters: map[string]bool{}}
	t := newTable()
	if _, err := f.conn.ListTableOfFamily(TableName, nftables.TableFamilyBridge); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return st, nil
		}
		return nil, fmt.Errorf("read table: %w", err)
	}
	st.table = true
	sets, err := f.conn.GetSets(t)
	if err != nil {
		return nil, fmt.Errorf("read sets: %w", err)
	}
	for _, s := range sets {
		st.sets[s.Name] = s
	}
	chains, err := f.conn.ListChainsOfTableFamily(nftables.TableFamilyBridge)
	if err != nil {
		return nil, fmt.Errorf("read chains: %w", err)
	}
	for _, c := range chains {
		if c.Table.Name == TableName {
			st.chains[c.Name] = true
		}
	}
	objs, err := f.conn.GetObjects(t)
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	for _, o := range objs {
		if c, ok := o.(*nftables.CounterObj); ok {
			st.counters[c.Name] = true
		}
	}
	if st.chains[chainForward] {
		rules, err := f.conn.GetRules(t, &nftables.Chain{Name: chainForward, Table: t})
		if err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
		if len(rules) > 0 {
			st.comment = commentOf(rules[0])
		}
	}
	return st, nil
}

// Apply makes the kernel's table match r: it creates what is missing,
// rebuilds the rules if r's settings changed, and brings the allow, deny,
// permanent and admin lists and the port sets to r's content. Everything
// goes in one atomic batch; when the kernel already matches r nothing is
// sent. Dynamic bans, the large sets and the counters are kept.
//
// An invalid r is rejected and changes nothing.
func (f *Firewall) Apply(r Ruleset) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("invalid ruleset: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.read()
	if err != nil {
		return err
	}
	if live, ok := slotsFromComment(st.comment); ok {
		f.live = live
	} else if !st.table {
		f.live = defaultSlots()
	}
	want := build(&r, f.live)
	b := &batch{conn: f.conn}
	if !st.table {
		b.addTable(want.table)
	}
	for _, s := range want.sets {
		if _, ok := st.sets[s.Name]; !ok {
			b.addSet(s)
		}
	}
	for _, name := range Counters {
		if !st.counters[name] {
			b.addCounter(want.table, name)
		}
	}
	for _, c := range want.chains {
		if !st.chains[c.Name] {
			b.addChain(c)
		}
	}
	if st.comment != want.comment {
		b.replaceRules(want, st.chains)
	}
	for _, s := range want.sets {
		elems, ok := want.elements[s.Name]
		if !ok {
			continue
		}
		var have []nftables.SetElement
		if _, exists := st.sets[s.Name]; exists {
			if have, err = f.conn.GetSetElements(s); err != nil {
				return fmt.Errorf("read set %s: %w", s.Name, err)
			}
		}
		sync := b.syncIntervals
		if !s.Interval {
			sync = b.syncKeys
		}
		if err := sync(s, have, elems); err != nil {
			return err
		}
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("apply ruleset: %w", err)
	}
	f.applied = &r
	return nil
}

// Remove deletes sipguard's table, and with it every rule, set and ban.
// Removing a table that is not there is not an error.
func (f *Firewall) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conn.DelTable(newTable())
	if err := f.conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove table %s: %w", TableName, err)
	}
	f.applied, f.crowdsec = nil, nil
	f.live = defaultSlots()
	clear(f.sizes)
	return nil
}

// ReplaceSource replaces the whole content of a large set (countries or
// feeds) with prefixes, IPv4 and IPv6 mixed, in any order, overlaps allowed.
// The new content is loaded into the standby slot in chunks, then one
// atomic batch points the rules at it and deletes the old one: packets never
// see a half-loaded list. If loading fails, the old content stays in force.
// Apply must have run first.
func (f *Firewall) ReplaceSource(src Source, prefixes iter.Seq[netip.Prefix]) (v4, v6 int, err error) {
	if !slices.Contains(sources, src) {
		return 0, 0, fmt.Errorf("unknown source %v", src)
	}
	var lists spanLists
	for p := range prefixes {
		if !p.IsValid() {
			return 0, 0, fmt.Errorf("%v: invalid prefix %v", src, p)
		}
		lists.add(p)
	}
	lists.merge()

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied == nil {
		return 0, 0, errors.New("replace " + src.String() + ": no ruleset applied yet")
	}
	st, err := f.read()
	if err != nil {
		return 0, 0, err
	}
	next := f.live
	next[src] = otherSlot(f.live[src])
	want := build(f.applied, next)
	t := want.table
	var newSets, oldSets []*nftables.Set
	for _, fam := range []family{ipv4, ipv6} {
		nets, hosts := src.setNames(fam, next[src])
		newSets = append(newSets, want.set(nets), want.set(hosts))
		nets, hosts = src.setNames(fam, f.live[src])
		oldSets = append(oldSets, &nftables.Set{Table: t, Name: nets}, &nftables.Set{Table: t, Name: hosts})
	}

	// Sizing the host sets up front lets the kernel pick a fixed hash table
	// instead of growing one through a million inserts.
	nets4, hosts4 := splitHosts(lists.v4)
	nets6, hosts6 := splitHosts(lists.v6)
	newSets[1].Size = uint32(len(hosts4) + 1)
	newSets[3].Size = uint32(len(hosts6) + 1)

	// A standby set left over from an interrupted load is discarded.
	b := &batch{conn: f.conn}
	for _, s := range newSets {
		if _, ok := st.sets[s.Name]; ok {
			b.delSet(s)
		}
		b.addSet(s)
	}
	if err := b.flush(); err != nil {
		return 0, 0, fmt.Errorf("replace %v: create standby sets: %w", src, err)
	}
	cleanup := func(err error) (int, int, error) {
		b := &batch{conn: f.conn}
		for _, s := range newSets {
			b.delSet(s)
		}
		return 0, 0, errors.Join(err, b.flush())
	}
	for _, l := range []struct {
		set  *nftables.Set
		load func() error
	}{
		{newSets[0], func() error { return loadElements(f.conn, newSets[0], nets4, elements4) }},
		{newSets[1], func() error { return loadElements(f.conn, newSets[1], hosts4, hostElement(key4)) }},
		{newSets[2], func() error { return loadElements(f.conn, newSets[2], nets6, elements6) }},
		{newSets[3], func() error { return loadElements(f.conn, newSets[3], hosts6, hostElement(key6)) }},
	} {
		if err := l.load(); err != nil {
			return cleanup(fmt.Errorf("replace %v: load %s: %w", src, l.set.Name, err))
		}
	}

	b = &batch{conn: f.conn}
	b.replaceRules(want, st.chains)
	for _, s := range oldSets {
		b.delSet(s)
	}
	if err := b.flush(); err != nil {
		return cleanup(fmt.Errorf("replace %v: swap: %w", src, err))
	}
	f.live = next
	f.sizes[src] = [2]int{len(lists.v4), len(lists.v6)}
	return len(lists.v4), len(lists.v6), nil
}

// Chunking. One netlink attribute holds at most 64 KiB, so a message carries
// at most elemsPerMsg elements (48 bytes each at most); a load sends
// msgsPerBatch messages per write, bounding memory to a few megabytes
// whatever the list's size.
const (
	elemsPerMsg  = 1024
	msgsPerBatch = 64
)

// loadElements adds the elements of every item to s, in batches of
// msgsPerBatch messages.
func loadElements[T any](conn *nftables.Conn, s *nftables.Set, items []T, elems func([]nftables.SetElement, T) []nftables.SetElement) error {
	buf := make([]nftables.SetElement, 0, elemsPerMsg+1)
	msgs := 0
	for i, it := range items {
		buf = elems(buf, it)
		if len(buf) < elemsPerMsg && i != len(items)-1 {
			continue
		}
		if err := conn.SetAddElements(s, buf); err != nil {
			return err
		}
		buf = buf[:0]
		if msgs++; msgs == msgsPerBatch || i == len(items)-1 {
			if err := conn.Flush(); err != nil {
				return err
			}
			msgs = 0
		}
	}
	return nil
}

// Stats reads the list sizes and counters from the kernel.
func (f *Firewall) Stats() (*Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := newTable()
	if err := f.requireTable(); err != nil {
		return nil, err
	}
	if f.applied == nil {
		// Another process (the daemon) applied the ruleset: find which
		// slots are live from the kernel.
		if ks, err := f.read(); err == nil {
			if live, ok := slotsFromComment(ks.comment); ok && live != f.live {
				f.live = live
				clear(f.sizes)
			}
		}
	}
	st := &Stats{Sizes: map[string]Size{}, Counters: map[string]Counter{}}
	objs, err := f.conn.GetObjects(t)
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	for _, o := range objs {
		if c, ok := o.(*nftables.CounterObj); ok {
			st.Counters[c.Name] = Counter{Packets: c.Packets, Bytes: c.Bytes}
		}
	}
	for name, set := range map[string]string{"allow": setAllow, "deny": setDeny, "permanent": setPermanent, "admin": setAdmin, "dynamic": setDynamic, "crowdsec": setCrowdSec} {
		var sz Size
		for _, fam := range []family{ipv4, ipv6} {
			names := []string{set + fam.suffix}
			switch set {
			case setDynamic:
				names = append(names, setDynNet+fam.suffix)
			case setCrowdSec:
			default:
				names = append(names, hostSet(set, fam))
			}
			n := 0
			for _, name := range names {
				elems, err := f.conn.GetSetElements(&nftables.Set{Table: t, Name: name})
				if err != nil {
					return nil, fmt.Errorf("read set %s: %w", name, err)
				}
				for _, e := range elems {
					if !e.IntervalEnd {
						n++
					}
				}
			}
			if fam == ipv4 {
				sz.V4 = n
			} else {
				sz.V6 = n
			}
		}
		st.Sizes[name] = sz
	}
	for _, src := range sources {
		s, ok := f.sizes[src]
		if !ok {
			for i, fam := range []family{ipv4, ipv6} {
				nets, hosts := src.setNames(fam, f.live[src])
				for _, name := range []string{nets, hosts} {
					elems, err := f.conn.GetSetElements(&nftables.Set{Table: t, Name: name})
					if err != nil {
						return nil, fmt.Errorf("read %v: %w", src, err)
					}
					for _, e := range elems {
						if !e.IntervalEnd {
							s[i]++
						}
					}
				}
			}
			f.sizes[src] = s
		}
		st.Sizes[src.String()] = Size{V4: s[0], V6: s[1]}
	}
	return st, nil
}

// requireTable returns ErrNoRuleset when the table is missing.
func (f *Firewall) requireTable() error {
	if _, err := f.conn.ListTableOfFamily(TableName, nftables.TableFamilyBridge); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return ErrNoRuleset
		}
		return fmt.Errorf("read table: %w", err)
	}
	return nil
}

// batch queues messages on a Conn and remembers whether there is anything
// to send.
type batch struct {
	conn *nftables.Conn
	n    int
	err  error
}

func (b *batch) addTable(t *nftables.Table) { b.conn.AddTable(t); b.n++ }
func (b *batch) addChain(c *nftables.Chain) { b.conn.AddChain(c); b.n++ }
func (b *batch) delSet(s *nftables.Set)     { b.conn.DelSet(s); b.n++ }

func (b *batch) addSet(s *nftables.Set) {
	if err := b.conn.AddSet(s, nil); err != nil {
		b.err = errors.Join(b.err, fmt.Errorf("set %s: %w", s.Name, err))
	}
	b.n++
}

func (b *batch) addCounter(t *nftables.Table, name string) {
	b.conn.AddObj(&nftables.CounterObj{Table: t, Name: name})
	b.n++
}

// replaceRules empties every existing chain, deletes the chains the layout
// no longer has (left by an older firmware) and adds the layout's rules.
func (b *batch) replaceRules(l *layout, existing map[string]bool) {
	for name := range existing {
		b.conn.FlushChain(&nftables.Chain{Table: l.table, Name: name})
	}
	for name := range existing {
		if !slices.ContainsFunc(l.chains, func(c *nftables.Chain) bool { return c.Name == name }) {
			b.conn.DelChain(&nftables.Chain{Table: l.table, Name: name})
		}
	}
	for _, r := range l.rules {
		b.conn.AddRule(r)
	}
	b.n++
}

func (b *batch) addElements(s *nftables.Set, elems []nftables.SetElement) {
	for chunk := range slices.Chunk(elems, elemsPerMsg) {
		if err := b.conn.SetAddElements(s, chunk); err != nil {
			b.err = errors.Join(b.err, fmt.Errorf("set %s: %w", s.Name, err))
		}
		b.n++
	}
}

func (b *batch) delElements(s *nftables.Set, elems []nftables.SetElement) {
	for chunk := range slices.Chunk(elems, elemsPerMsg) {
		if err := b.conn.SetDeleteElements(s, chunk); err != nil {
			b.err = errors.Join(b.err, fmt.Errorf("set %s: %w", s.Name, err))
		}
		b.n++
	}
}

// syncIntervals queues the difference between an interval set's elements
// in the kernel (have) and the wanted ones: removed ranges first, then new
// ones, so that ranges never overlap on the way.
func (b *batch) syncIntervals(s *nftables.Set, have, want []nftables.SetElement) error {
	h, w := intervalsOf(have), intervalsOf(want)
	var del, add []nftables.SetElement
	for iv := range h {
		if !w[iv] {
			del = append(del, iv.elements()...)
		}
	}
	for iv := range w {
		if !h[iv] {
			add = append(add, iv.elements()...)
		}
	}
	if len(del) > 0 {
		b.delElements(s, del)
	}
	if len(add) > 0 {
		b.addElements(s, add)
	}
	return b.err
}

// syncKeys queues the difference between a hash set's elements in the
// kernel and the wanted ones.
func (b *batch) syncKeys(s *nftables.Set, have, want []nftables.SetElement) error {
	keys := func(elems []nftables.SetElement) map[string]bool {
		m := make(map[string]bool, len(elems))
		for _, e := range elems {
			m[string(e.Key)] = true
		}
		return m
	}
	h, w := keys(have), keys(want)
	var del, add []nftables.SetElement
	for k := range h {
		if !w[k] {
			del = append(del, nftables.SetElement{Key: []byte(k)})
		}
	}
	for k := range w {
		if !h[k] {
			add = append(add, nftables.SetElement{Key: []byte(k)})
		}
	}
	if len(del) > 0 {
		b.delElements(s, del)
	}
	if len(add) > 0 {
		b.addElements(s, add)
	}
	return b.err
}

func (b *batch) flush() error {
	if b.err != nil {
		return b.err
	}
	if b.n == 0 {
		return nil
	}
	return b.conn.Flush()
}

// interval is one range of an interval set, as raw keys: its first key and
// the key after its last (empty when it runs to the end of the key space).
type interval struct{ start, end string }

func (iv interval) elements() []nftables.SetElement {
	e := []nftables.SetElement{{Key: []byte(iv.start)}}
	if iv.end != "" {
		e = append(e, nftables.SetElement{Key: []byte(iv.end), IntervalEnd: true})
	}
	return e
}

// intervalsOf pairs interval set elements (in any order) into ranges.
func intervalsOf(elems []nftables.SetElement) map[interval]bool {
	sorted := slices.Clone(elems)
	slices.SortFunc(sorted, func(a, b nftables.SetElement) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return boolCmp(!a.IntervalEnd, !b.IntervalEnd) // an end sorts before a start at the same key
	})
	out := map[interval]bool{}
	for i := 0; i < len(sorted); i++ {
		if sorted[i].IntervalEnd {
			continue
		}
		iv := interval{start: string(sorted[i].Key)}
		if i+1 < len(sorted) && sorted[i+1].IntervalEnd {
			iv.end = string(sorted[i+1].Key)
			i++
		}
		out[iv] = true
	}
	return out
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
