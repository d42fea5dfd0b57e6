package netfilter

import (
	"errors"
	"time"
)

// The first-packet verdict: the first SIP datagram over UDP of a source the
// box has not judged yet waits in a netfilter queue for the daemon's
// verdict before it is forwarded; judged sources take the kernel's fast
// path. The bridge table marks SIP datagrams from the wan port once every
// list, ban and hold let them through; a table of the ip and one of the
// ip6 family (bridged packets reach them through br_netfilter) queue a
// marked packet whose source is not in the judged set, and add its source
// to the set when the daemon's verdict carries MarkJudged. The queue
// bypasses itself when nobody listens and fails open when it is full: the
// box never stops traffic because the daemon is gone or slow.
const (
	// VerdictTable is the name of the ip and ip6 tables of the verdict.
	VerdictTable = "sipguard_verdict"
	// VerdictQueue is the netfilter queue the first packets wait in.
	VerdictQueue uint16 = 5060
	// MarkSIP is the packet mark bit the bridge table sets on SIP
	// datagrams over UDP from the wan port that passed every check.
	MarkSIP uint32 = 1 << 20
	// MarkJudged is the mark bit of a packet the daemon forwarded: its
	// source joins the judged set.
	MarkJudged uint32 = 1 << 21
	// JudgedTimeout is how long a source stays judged after its last
	// verdict.
	JudgedTimeout = 10 * time.Minute
	// JudgedSize bounds each judged set (IPv4, IPv6). When a set is full a
	// source is not added and its packets keep asking for a verdict.
	JudgedSize = 65535
	// VerdictRate and VerdictBurst bound the packets a second that wait
	// for a verdict, all sources together. A scanning campaign sends
	// a few hundred a second; beyond the bound, first packets pass
	// unjudged (VerdictStats.OverRate), so that a flood of spoofed new
	// sources costs the daemon no more than this.
	VerdictRate  = 1000
	VerdictBurst = 500
)

// ErrVerdictUnavailable wraps what the kernel lacks for the first-packet
// verdict (br_netfilter, nfnetlink_queue, the NFQUEUE target, nft_compat).
var ErrVerdictUnavailable = errors.New("first-packet verdict unavailable")

// VerdictStats are the kernel's counts of the first-packet verdict.
type VerdictStats struct {
	// Queued counts the packets sent to the queue, by both tables; those
	// the daemon never saw (no listener, queue full) are among them.
	Queued uint64
	// OverRate counts the first packets let through unjudged because more
	// than VerdictRate a second asked for a verdict.
	OverRate uint64
	// Judged counts the sources in the judged sets.
	Judged int
}
