package netfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Verdict manages the kernel's half of the first-packet verdict in one
// network namespace: the br_netfilter sysctls and the ip and ip6 tables
// that queue unjudged sources. Its methods are not safe for concurrent use.
type Verdict struct {
	conn  *nftables.Conn
	netns int
}

// Names inside the verdict tables.
const (
	verdictChainQueue = "queue" // hook forward: unjudged SIP to the queue
	verdictChainJudge = "judge" // hook forward, after it: forwarded sources become judged
	verdictSetJudged  = "judged"
	verdictCounter    = "queued"
	verdictOverRate   = "over_rate"
)

// bridgeSysctls make bridged IPv4 and IPv6 packets pass the ip and ip6
// hooks (br_netfilter), where the queue is: the bridge family has none.
var bridgeSysctls = []string{
	"/proc/sys/net/bridge/bridge-nf-call-iptables",
	"/proc/sys/net/bridge/bridge-nf-call-ip6tables",
}

// OpenVerdict connects to nftables. It changes nothing until Enable.
func OpenVerdict(opts ...Option) (*Verdict, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	copts := []nftables.ConnOption{nftables.AsLasting()}
	if o.netns != 0 {
		copts = append(copts, nftables.WithNetNSFd(o.netns))
	}
	conn, err := nftables.New(copts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nftables: %w", err)
	}
	return &Verdict{conn: conn, netns: o.netns}, nil
}

// Close closes the netlink connection; the tables stay in the kernel.
func (v *Verdict) Close() error { return v.conn.CloseLasting() }

func verdictTables() []*nftables.Table {
	return []*nftables.Table{
		{Family: nftables.TableFamilyIPv4, Name: VerdictTable},
		{Family: nftables.TableFamilyIPv6, Name: VerdictTable},
	}
}

// Enable turns the sysctls on and (re)creates the verdict tables, with an
// empty judged set, in one atomic batch. When the kernel lacks a piece the
// error wraps ErrVerdictUnavailable and the tables are left out.
func (v *Verdict) Enable() error {
	if err := v.setSysctls("1"); err != nil {
		return err
	}
	for _, t := range verdictTables() {
		v.conn.AddTable(t) // so that the deletion below cannot fail
		v.conn.DelTable(t)
	}
	for i, t := range verdictTables() {
		f := []family{ipv4, ipv6}[i]
		v.conn.AddTable(t)
		key := map[family]nftables.SetDatatype{ipv4: nftables.TypeIPAddr, ipv6: nftables.TypeIP6Addr}[f]
		judged := &nftables.Set{Table: t, Name: verdictSetJudged, KeyType: key, Dynamic: true, HasTimeout: true,
			Timeout: JudgedTimeout, Size: JudgedSize}
		if err := v.conn.AddSet(judged, nil); err != nil {
			return fmt.Errorf("verdict set: %w", err)
		}
		v.conn.AddObj(&nftables.CounterObj{Table: t, Name: verdictCounter})
		v.conn.AddObj(&nftables.CounterObj{Table: t, Name: verdictOverRate})
		accept := nftables.ChainPolicyAccept
		queue := v.conn.AddChain(&nftables.Chain{Table: t, Name: verdictChainQueue, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityRef(0), Policy: &accept})
		judge := v.conn.AddChain(&nftables.Chain{Table: t, Name: verdictChainJudge, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityRef(10), Policy: &accept})
		// A marked datagram from an unjudged source waits for the daemon.
		// BYPASS: with nobody listening the queue accepts.
		info := make([]byte, 6) // struct xt_NFQ_info_v3
		binary.NativeEndian.PutUint16(info[0:], VerdictQueue)
		binary.NativeEndian.PutUint16(info[2:], 1) // queues_total
		binary.NativeEndian.PutUint16(info[4:], 1) // NFQ_FLAG_BYPASS
		raw := xt.Unknown(info)
		// At most VerdictRate a second (in bursts of VerdictBurst) wait for
		// it: past that, a flood of new (spoofed) sources passes unjudged
		// and counted, as it did before the verdict, instead of spending
		// the CPU a userspace round trip per packet costs.
		v.conn.AddRule(&nftables.Rule{Table: t, Chain: queue, Exprs: cat(markHas(MarkSIP), []expr.Any{
			loadNet(f.saddr, f.addrLen, reg1), lookup(verdictSetJudged, true),
			&expr.Limit{Type: expr.LimitTypePkts, Rate: VerdictRate, Unit: expr.LimitTimeSecond, Burst: VerdictBurst},
			count(verdictCounter),
			&expr.Target{Name: "NFQUEUE", Rev: 3, Info: &raw},
		})})
		v.conn.AddRule(&nftables.Rule{Table: t, Chain: queue, Exprs: cat(markHas(MarkSIP), []expr.Any{
			loadNet(f.saddr, f.addrLen, reg1), lookup(verdictSetJudged, true),
			count(verdictOverRate),
		})})
		// The daemon's accept comes back with MarkJudged and carries on at
		// the next chain of the hook: the source joins the judged set (or,
		// the set being full, does not, and the packet passes all the same).
		v.conn.AddRule(&nftables.Rule{Table: t, Chain: judge, Exprs: cat(markHas(MarkJudged), []expr.Any{
			loadNet(f.saddr, f.addrLen, reg1),
			&expr.Dynset{SrcRegKey: reg1, SetName: verdictSetJudged, Operation: uint32(unix.NFT_DYNSET_OP_UPDATE)},
		})})
	}
	if err := v.conn.Flush(); err != nil {
		return fmt.Errorf("%w: verdict tables (needs nft_compat, xt_NFQUEUE, nfnetlink_queue): %w", ErrVerdictUnavailable, err)
	}
	return nil
}

// markHas matches packets whose mark has bit set.
func markHas(bit uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, bit), Xor: make([]byte, 4)},
		cmp(expr.CmpOpNeq, make([]byte, 4)),
	}
}

// markSet sets bit in the packet's mark, keeping the others.
func markSet(bit uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, ^bit), Xor: binary.NativeEndian.AppendUint32(nil, bit)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
	}
}

// Disable deletes the verdict tables and turns the sysctls off again.
// Tables already gone are no error.
func (v *Verdict) Disable() error {
	for _, t := range verdictTables() {
		v.conn.AddTable(t)
		v.conn.DelTable(t)
	}
	if err := v.conn.Flush(); err != nil {
		return fmt.Errorf("remove verdict tables: %w", err)
	}
	if err := v.setSysctls("0"); err != nil && !errors.Is(err, ErrVerdictUnavailable) {
		return err
	}
	return nil
}

// FlushJudged empties the judged sets: every source is judged again at
// its next packet.
func (v *Verdict) FlushJudged() error {
	for _, t := range verdictTables() {
		v.conn.FlushSet(&nftables.Set{Table: t, Name: verdictSetJudged})
	}
	if err := v.conn.Flush(); err != nil {
		return fmt.Errorf("flush judged sets: %w", err)
	}
	return nil
}

// Stats reads the verdict's counter and the judged sets' sizes.
func (v *Verdict) Stats() (VerdictStats, error) {
	var st VerdictStats
	for _, t := range verdictTables() {
		objs, err := v.conn.GetObjects(t)
		if err != nil {
			return st, fmt.Errorf("read verdict counters: %w", err)
		}
		for _, o := range objs {
			c, ok := o.(*nftables.CounterObj)
			switch {
			case ok && c.Name == verdictCounter:
				st.Queued += c.Packets
			case ok && c.Name == verdictOverRate:
				st.OverRate += c.Packets
			}
		}
		elems, err := v.conn.GetSetElements(&nftables.Set{Table: t, Name: verdictSetJudged})
		if err != nil {
			return st, fmt.Errorf("read judged set: %w", err)
		}
		st.Judged += len(elems)
	}
	return st, nil
}

// setSysctls writes value to the bridge sysctls in the Verdict's network
// namespace.
func (v *Verdict) setSysctls(value string) error {
	write := func() error {
		for _, p := range bridgeSysctls {
			if err := os.WriteFile(p, []byte(value), 0); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("%w: %s is missing (needs br_netfilter)", ErrVerdictUnavailable, p)
				}
				return fmt.Errorf("set %s: %w", p, err)
			}
		}
		return nil
	}
	return InNetNS(v.netns, write)
}

// InNetNS runs fn inside the network namespace behind the file descriptor
// ns, on an OS thread of its own (0: the caller's namespace, directly). The
// thread is dropped afterwards unless it returned to its own namespace.
func InNetNS(ns int, fn func() error) error {
	if ns == 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("current namespace: %w", err)
			return // the locked thread ends with the goroutine
		}
		defer orig.Close()
		if err := netns.Set(netns.NsHandle(ns)); err != nil {
			errc <- fmt.Errorf("enter namespace: %w", err)
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}
