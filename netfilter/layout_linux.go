package netfilter

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/sip/portrange"
)

// layoutVersion changes whenever the rules built here change for the same
// Ruleset, so that a new firmware replaces the rules of an old one.
const layoutVersion = 9

// Chains.
const (
	chainForward = "forward"
	chainInput   = "input"
	chainWAN     = "wan_in"
	chainWAN4    = "wan_ip"
	chainWAN6    = "wan_ip6"
	chainNew4    = "new_ip" // network sets, for packets that open a flow
	chainNew6    = "new_ip6"
	chainMgmt    = "mgmt_in"
)

// hostSet names the hash set that holds a list's single addresses; the
// list's networks are in the interval set named base + family suffix. A hash
// lookup costs the same whatever the set's size, a tree walk does not.
func hostSet(base string, f family) string { return base + f.suffix + "_host" }

// Set names: address sets get a "4" or "6" suffix.
const (
	setAllow     = "allow"
	setDeny      = "deny"
	setPermanent = "perm"
	setDynamic   = "dyn"
	setDynNet    = "dynnet"   // network bans: an interval set with timeouts
	setCrowdSec  = "crowdsec" // CrowdSec's decisions: an interval set with timeouts
	setAdmin     = "admin"
	setTFTP      = "tftp"    // per-source TFTP rate meter
	setHold      = "hold"    // sources held to a trickle of SIP requests
	setHoldNet   = "holdnet" // networks whose sources are held so
	setHoldMeter = "holdm"   // their per-source rate meter
	setDNSFlow   = "dnsflow" // TCP DNS flows whose first segment was checked
	setSIPPorts  = "sip_ports"
	setTCPPorts  = "restricted_tcp"
)

// setNames returns the names of a source's two sets for a family in a
// slot: an interval set for networks and ranges, and a hash set for single
// addresses, which the kernel loads and matches far faster. Each source has
// two slots, a and b: one is live, the other is loaded next.
func (s Source) setNames(f family, slot byte) (nets, hosts string) {
	base := map[Source]string{Countries: "country", Feeds: "feeds"}[s]
	return fmt.Sprintf("%s%s_net_%c", base, f.suffix, slot), fmt.Sprintf("%s%s_host_%c", base, f.suffix, slot)
}

func otherSlot(slot byte) byte {
	if slot == 'a' {
		return 'b'
	}
	return 'a'
}

// slots records which slot of each source is live.
type slots [2]byte

func defaultSlots() slots { return slots{'a', 'a'} }

const meterSize = 65535 // bounded per-source state in the kernel

// layout is the desired table, computed from a Ruleset: pure data, applied
// by the Firewall.
type layout struct {
	table    *nftables.Table
	sets     []*nftables.Set
	chains   []*nftables.Chain
	rules    []*nftables.Rule
	elements map[string][]nftables.SetElement // contents of the sets the Ruleset fills, by set name
	comment  string                           // identifies the rules; kept on the first rule
}

func newTable() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyBridge, Name: TableName}
}

// build computes the layout for r with the given live slots.
func build(r *Ruleset, live slots) *layout {
	t := newTable()
	l := &layout{table: t, elements: map[string][]nftables.SetElement{}}
	l.sets = buildSets(t, live)
	l.chains = buildChains(t)
	l.comment = comment(r, live)
	l.rules = buildRules(t, r, live, l.comment)

	for _, s := range []struct {
		name string
		list spanLists
	}{
		{setAllow, spansOf(r.Allow)},
		{setDeny, spansOf(r.Deny)},
		{setPermanent, spansOf(r.Permanent)},
		{setAdmin, spansOf(r.Admin)},
	} {
		nets4, hosts4 := splitHosts(s.list.v4)
		nets6, hosts6 := splitHosts(s.list.v6)
		var e []nftables.SetElement
		for _, sp := range nets4 {
			e = elements4(e, sp)
		}
		l.elements[s.name+"4"] = e
		e = nil
		for _, sp := range nets6 {
			e = elements6(e, sp)
		}
		l.elements[s.name+"6"] = e
		l.elements[hostSet(s.name, ipv4)] = hostElements(hosts4, key4)
		l.elements[hostSet(s.name, ipv6)] = hostElements(hosts6, key6)
	}
	l.elements[setSIPPorts] = portElements(r.SIPPorts)
	l.elements[setTCPPorts] = portElements(r.RestrictedTCP)
	return l
}

func portElements(ranges []portrange.Range) []nftables.SetElement {
	spans := make([]span[uint16], 0, len(ranges))
	for _, r := range ranges {
		spans = append(spans, span[uint16]{r.First, r.Last})
	}
	spans = merge(spans, compareOrdered[uint16], succ16)
	var out []nftables.SetElement
	for _, s := range spans {
		out = elements(out, s, be16, succ16)
	}
	return out
}

func succ16(p uint16) (uint16, bool) { return p + 1, p != 65535 }

// comment identifies the rules built for r: applying a Ruleset whose
// comment matches the kernel's leaves the rules alone.
func comment(r *Ruleset, live slots) string {
	structural := struct {
		V          int
		WAN        string
		Countries  CountryMode
		TFTP       *RateLimit
		DNS        bool
		UDP, TCP   bool
		TrustedSIP bool
		Prefix6    int
		Prefix4    int
		First      bool
	}{layoutVersion, r.WAN, r.Countries, r.TFTP, r.DNSGuard, r.SIPUDP, r.SIPTCP, r.TrustedSIP, r.BanPrefix6, r.banBits4(), r.FirstPacket}
	b, _ := json.Marshal(structural)
	b = append(b, tollKey(r)...)
	sum := sha256.Sum256(b)
	return fmt.Sprintf("sipguard layout=%d slots=%c%c ban4=%d ban6=%d rules=%s", layoutVersion, live[Countries], live[Feeds], r.banBits4(), r.BanPrefix6, hex.EncodeToString(sum[:8]))
}

// slotsFromComment reads the live slots back from a comment written by
// comment.
func slotsFromComment(c string) (slots, bool) {
	for _, f := range strings.Fields(c) {
		if v, ok := strings.CutPrefix(f, "slots="); ok && len(v) == 2 {
			s := slots{v[0], v[1]}
			for _, x := range s {
				if x != 'a' && x != 'b' {
					return slots{}, false
				}
			}
			return s, true
		}
	}
	return slots{}, false
}

// banPrefixFromComment reads a ban prefix length back from a comment: the
// IPv4 one (ban4=) or the IPv6 one (ban6=), as the family says.
func banPrefixFromComment(c string, f family) (int, bool) {
	key, lo, hi := "ban6=", 48, 128
	if f == ipv4 {
		key, lo, hi = "ban4=", 8, 32
	}
	for _, field := range strings.Fields(c) {
		if v, ok := strings.CutPrefix(field, key); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil && n >= lo && n <= hi
		}
	}
	return 0, false
}

func commentOf(r *nftables.Rule) string {
	c, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return c
}

func buildSets(t *nftables.Table, live slots) []*nftables.Set {
	var sets []*nftables.Set
	addr := map[family]nftables.SetDatatype{ipv4: nftables.TypeIPAddr, ipv6: nftables.TypeIP6Addr}
	for _, f := range []family{ipv4, ipv6} {
		for _, name := range []string{setAllow, setDeny, setPermanent, setAdmin} {
			sets = append(sets,
				&nftables.Set{Table: t, Name: name + f.suffix, KeyType: addr[f], Interval: true},
				&nftables.Set{Table: t, Name: hostSet(name, f), KeyType: addr[f]})
		}
		for _, src := range sources {
			nets, hosts := src.setNames(f, live[src])
			sets = append(sets,
				&nftables.Set{Table: t, Name: nets, KeyType: addr[f], Interval: true},
				&nftables.Set{Table: t, Name: hosts, KeyType: addr[f]})
		}
		sets = append(sets,
			&nftables.Set{Table: t, Name: setDynamic + f.suffix, KeyType: addr[f], HasTimeout: true},
			&nftables.Set{Table: t, Name: setDynNet + f.suffix, KeyType: addr[f], Interval: true, HasTimeout: true},
			&nftables.Set{Table: t, Name: setCrowdSec + f.suffix, KeyType: addr[f], Interval: true, HasTimeout: true},
			&nftables.Set{Table: t, Name: setHold + f.suffix, KeyType: addr[f], HasTimeout: true},
			&nftables.Set{Table: t, Name: setHoldNet + f.suffix, KeyType: addr[f], Interval: true, HasTimeout: true},
			&nftables.Set{Table: t, Name: setHoldMeter + f.suffix, KeyType: addr[f], Dynamic: true, HasTimeout: true, Timeout: time.Minute, Size: meterSize},
			&nftables.Set{Table: t, Name: setTFTP + f.suffix, KeyType: addr[f], Dynamic: true, HasTimeout: true, Timeout: time.Minute, Size: meterSize},
			&nftables.Set{Table: t, Name: setDNSFlow + f.suffix, KeyType: nftables.MustConcatSetType(addr[f], nftables.TypeInetService),
				Concatenation: true, Dynamic: true, HasTimeout: true, Timeout: 30 * time.Second, Size: meterSize},
		)
	}
	sets = append(sets,
		&nftables.Set{Table: t, Name: setSIPPorts, KeyType: nftables.TypeInetService, Interval: true},
		&nftables.Set{Table: t, Name: setTCPPorts, KeyType: nftables.TypeInetService, Interval: true},
	)
	return sets
}

func buildChains(t *nftables.Table) []*nftables.Chain {
	accept := nftables.ChainPolicyAccept
	prio := nftables.ChainPriorityRef(-200) // NF_BR_PRI_FILTER_BRIDGED
	return []*nftables.Chain{
		{Table: t, Name: chainNew4},
		{Table: t, Name: chainNew6},
		{Table: t, Name: chainWAN4},
		{Table: t, Name: chainWAN6},
		{Table: t, Name: chainWAN},
		{Table: t, Name: chainMgmt},
		{Table: t, Name: chainToll},
		{Table: t, Name: chainForward, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: prio, Policy: &accept},
		{Table: t, Name: chainInput, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput, Priority: prio, Policy: &accept},
	}
}

func buildRules(t *nftables.Table, r *Ruleset, live slots, comment string) []*nftables.Rule {
	var rules []*nftables.Rule
	add := func(chain string, exprs ...[]expr.Any) *nftables.Rule {
		rule := &nftables.Rule{Table: t, Chain: &nftables.Chain{Name: chain, Table: t}, Exprs: cat(exprs...)}
		rules = append(rules, rule)
		return rule
	}
	fams := []family{ipv4, ipv6}

	// Base chains: only what enters on the wan port is filtered.
	first := add(chainForward, iifname(r.WAN), []expr.Any{jump(chainWAN)})
	first.UserData = userdata.AppendString(nil, userdata.TypeComment, comment)
	add(chainInput, iifname(r.WAN), []expr.Any{jump(chainMgmt)})
	blockDialled(r, add) // the office's calls to blocked numbers

	// wan_in sends each frame to the chain of its family, so a packet is
	// checked only against the rules that can match it. A frame still
	// tagged after the kernel took the outer tag off (QinQ) would hide its
	// addresses from every rule: it is dropped.
	add(chainWAN, etherType(ethIP), []expr.Any{jump(chainWAN4)})
	add(chainWAN, etherType(ethIP6), []expr.Any{jump(chainWAN6)})
	add(chainWAN, etherType(eth8021Q), drop(CounterVLAN))
	add(chainWAN, etherType(eth8021D), drop(CounterVLAN))

	// Neighbour discovery never leaves the link and is how the office finds
	// its gateway: no list or ban applies to it.
	add(chainWAN6, icmp6ND(), []expr.Any{verdict(expr.VerdictAccept)})
	for _, f := range fams {
		chain := map[family]string{ipv4: chainWAN4, ipv6: chainWAN6}[f]
		saddr := func() *expr.Payload { return loadNet(f.saddr, f.addrLen, reg1) }
		for _, l := range []struct {
			set  string
			then []expr.Any
		}{{setAllow, accept(CounterAllow)}, {setDeny, drop(CounterDeny)}, {setPermanent, drop(CounterPermanent)}} {
			add(chain, []expr.Any{saddr(), lookup(hostSet(l.set, f), false)}, l.then)
			add(chain, saddrIn(f, l.set, false), l.then)
		}
		// banKey is the source as the ban sets hold it: a ban covers the
		// source's whole ban prefix.
		banKey := func() []expr.Any {
			if f == ipv4 {
				if r.banBits4() == 32 {
					return []expr.Any{saddr()}
				}
				return []expr.Any{saddr(), &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask6(r.banBits4())[:4], Xor: make([]byte, 4)}}
			}
			return []expr.Any{saddr(), &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 16, Mask: mask6(r.BanPrefix6), Xor: make([]byte, 16)}}
		}
		add(chain, banKey(), []expr.Any{lookup(setDynamic+f.suffix, false)}, drop(CounterDynamic))
		// Network bans, wider than one source: a tree of a few networks.
		add(chain, saddrIn(f, setDynNet, false), drop(CounterDynamic))
		// A source three failures away from a ban is held to a trickle of
		// SIP requests over UDP (three, enough to reach the ban, then one
		// every half second) until its ban or its hold ends: however late
		// the ban, a fast brute force gets no more guesses through
		// meanwhile.
		if r.SIPUDP {
			meter := func() []expr.Any {
				return cat(l4proto(unix.IPPROTO_UDP), []expr.Any{dport(), lookup(setSIPPorts, false)}, banKey(), []expr.Any{
					&expr.Dynset{SrcRegKey: reg1, SetName: setHoldMeter + f.suffix, Operation: uint32(unix.NFT_DYNSET_OP_UPDATE),
						Exprs: []expr.Any{&expr.Limit{Type: expr.LimitTypePkts, Rate: 2, Unit: expr.LimitTimeSecond, Burst: 3, Over: true}}},
				})
			}
			add(chain, banKey(), []expr.Any{lookup(setHold+f.suffix, false)}, meter(), drop(CounterHeld))
			// A held network: each of its sources is held so.
			add(chain, saddrIn(f, setHoldNet, false), meter(), drop(CounterHeld))
		}

		// The large sets: a hash set of single addresses and an interval
		// set of networks each, in the live slot. Hash lookups cost next to
		// nothing and run for every packet; walking a tree of a hundred
		// thousand networks does not, so the network sets are checked for
		// packets that can open a flow: everything but TCP, and TCP
		// segments with SYN and without ACK. Without its SYN, a blocked
		// source has no connection to send the rest on.
		newFlows := map[family]string{ipv4: chainNew4, ipv6: chainNew6}[f]
		nets, hosts := Countries.setNames(f, live[Countries])
		switch r.Countries {
		case CountriesBlock:
			add(chain, []expr.Any{saddr(), lookup(hosts, false)}, drop(CounterCountry))
			add(newFlows, []expr.Any{saddr(), lookup(nets, false)}, drop(CounterCountry))
		case CountriesAllowOnly:
			add(newFlows, []expr.Any{saddr(), lookup(hosts, true), lookup(nets, true)}, drop(CounterCountry))
		}
		nets, hosts = Feeds.setNames(f, live[Feeds])
		add(chain, []expr.Any{saddr(), lookup(hosts, false)}, drop(CounterFeed))
		add(newFlows, []expr.Any{saddr(), lookup(nets, false)}, drop(CounterFeed))
		// CrowdSec's decisions, shared by the boxes of a fleet: below the
		// allowlist like the feeds, each element ending on its own timeout.
		add(newFlows, saddrIn(f, setCrowdSec, false), drop(CounterCrowdSec))
		add(chain, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			cmp(expr.CmpOpNeq, []byte{unix.IPPROTO_TCP}),
			jump(newFlows),
		})
		add(chain, l4proto(unix.IPPROTO_TCP), tcpFlags(tcpSYN|tcpACK, tcpSYN, expr.CmpOpEq), []expr.Any{jump(newFlows)})

		if l := r.TFTP; l != nil {
			add(chain, l4proto(unix.IPPROTO_UDP), portIs(dport(), 69), []expr.Any{saddr(),
				&expr.Dynset{SrcRegKey: reg1, SetName: setTFTP + f.suffix, Operation: uint32(unix.NFT_DYNSET_OP_UPDATE),
					Exprs: []expr.Any{&expr.Limit{Type: expr.LimitTypePkts, Rate: l.Rate, Unit: expr.LimitTime(l.Per / time.Second), Burst: l.Burst, Over: true}}},
			}, drop(CounterTFTP))
		}

		if r.DNSGuard {
			// UDP: the datagram's length field covers the 8-byte header.
			add(chain, l4proto(unix.IPPROTO_UDP), portIs(sport(), 53),
				[]expr.Any{loadTransport(4, 2, reg1), cmp(expr.CmpOpGt, be16(dnsMaxResponse+8))}, drop(CounterDNS))
			// TCP: a response starts with the message's 2-byte length. Check
			// it in the first data segment the client receives on each
			// connection, then remember the flow so the rest of the stream
			// (whose bytes could look like anything) is left alone.
			flow := []expr.Any{loadNet(f.daddr, f.addrLen, reg1), loadTransport(2, 2, reg32(f.addrLen/4))}
			add(chain, l4proto(unix.IPPROTO_TCP), portIs(sport(), 53),
				[]expr.Any{&expr.Payload{DestRegister: reg1, Base: payloadInner, Offset: 0, Len: 2}, cmp(expr.CmpOpGt, be16(dnsMaxResponse))},
				flow, []expr.Any{lookup(setDNSFlow+f.suffix, true)}, drop(CounterDNS))
			add(chain, l4proto(unix.IPPROTO_TCP), portIs(sport(), 53),
				[]expr.Any{&expr.Payload{DestRegister: reg1, Base: payloadInner, Offset: 0, Len: 1}},
				flow, []expr.Any{&expr.Dynset{SrcRegKey: reg1, SetName: setDNSFlow + f.suffix, Operation: uint32(unix.NFT_DYNSET_OP_UPDATE)}})
		}

		// New TCP connections (SYN without ACK) to restricted office ports.
		add(chain, l4proto(unix.IPPROTO_TCP), tcpFlags(tcpSYN|tcpACK, tcpSYN, expr.CmpOpEq),
			[]expr.Any{dport(), lookup(setTCPPorts, false)}, drop(CounterPort))

		if r.TrustedSIP {
			// The allowlist accepted trusted sources above; the rest is dropped.
			for _, p := range []struct {
				on    bool
				proto byte
			}{{r.SIPUDP, unix.IPPROTO_UDP}, {r.SIPTCP, unix.IPPROTO_TCP}} {
				if p.on {
					add(chain, l4proto(p.proto), []expr.Any{dport(), lookup(setSIPPorts, false)}, drop(CounterSIPUntrusted))
				}
			}
		}
		// What got this far is forwarded: SIP over UDP is marked for the
		// first-packet verdict (verdict_linux.go).
		if r.FirstPacket && r.SIPUDP {
			add(chain, l4proto(unix.IPPROTO_UDP), []expr.Any{dport(), lookup(setSIPPorts, false)}, markSet(MarkSIP))
		}
	}

	// mgmt_in: the box itself, seen from the wan port.
	add(chainMgmt, etherType(ethARP), []expr.Any{verdict(expr.VerdictAccept)})
	for _, f := range fams {
		add(chainMgmt, etherType(f.ether), []expr.Any{loadNet(f.saddr, f.addrLen, reg1), lookup(hostSet(setAdmin, f), false), verdict(expr.VerdictAccept)})
		add(chainMgmt, etherType(f.ether), saddrIn(f, setAdmin, false), []expr.Any{verdict(expr.VerdictAccept)})
	}
	// What the box's own connections need back: neighbour discovery, DHCP
	// leases, ICMP errors, DNS and NTP answers, and TCP segments that do not
	// open a connection.
	add(chainMgmt, etherType(ethIP6), icmp6ND(), []expr.Any{verdict(expr.VerdictAccept)})
	for _, icmp := range []struct {
		f     family
		types []byte
	}{{ipv4, []byte{0, 3, 11}}, {ipv6, []byte{1, 2, 3, 129}}} {
		for _, typ := range icmp.types {
			add(chainMgmt, etherType(icmp.f.ether), l4proto(icmp.f.icmpProto), []expr.Any{loadTransport(0, 1, reg1), cmp(expr.CmpOpEq, []byte{typ}), verdict(expr.VerdictAccept)})
		}
	}
	for _, p := range [][2]uint16{{67, 68}, {547, 546}, {53, 0}, {123, 0}} {
		m := cat(l4proto(unix.IPPROTO_UDP), portIs(sport(), p[0]))
		if p[1] != 0 {
			m = cat(m, portIs(dport(), p[1]))
		}
		add(chainMgmt, m, []expr.Any{verdict(expr.VerdictAccept)})
	}
	add(chainMgmt, l4proto(unix.IPPROTO_TCP), tcpFlags(tcpSYN|tcpACK, tcpSYN, expr.CmpOpNeq), []expr.Any{verdict(expr.VerdictAccept)})
	add(chainMgmt, etherType(ethIP), drop(CounterMgmt))
	add(chainMgmt, etherType(ethIP6), drop(CounterMgmt))
	return rules
}

// icmp6ND matches ICMPv6 neighbour discovery: router and neighbour
// solicitations and advertisements, redirects (types 133-137).
func icmp6ND() []expr.Any {
	return cat(l4proto(unix.IPPROTO_ICMPV6), []expr.Any{loadTransport(0, 1, reg1),
		&expr.Range{Op: expr.CmpOpEq, Register: reg1, FromData: []byte{133}, ToData: []byte{137}}})
}

// dnsMaxResponse is the largest DNS response the guard lets through, the
// size of glibc's stack buffer in CVE-2015-7547.
const dnsMaxResponse = 2048

// set returns the layout's set of that name; it panics on a name the
// layout does not have, which is a bug in this package.
func (l *layout) set(name string) *nftables.Set {
	for _, s := range l.sets {
		if s.Name == name {
			return s
		}
	}
	panic("netfilter: layout has no set " + name)
}
