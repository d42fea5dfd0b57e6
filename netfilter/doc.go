// Package netfilter is the box's dataplane: the kernel bridge that joins the
// wan and lan ports, and the nftables ruleset that drops what sipguard
// decides to drop. Go never forwards a packet; it only tells the kernel what
// to do.
//
// # Bridge
//
// [SetupBridge] creates br0 and enslaves the two ports. Spanning tree is off
// and the ports forward from the moment they are enslaved: the box is a
// cable with a filter, not a switch that negotiates. The ports carry no IP
// address and generate no IPv6 link-local address, so the box is invisible
// on both sides; an optional management address lives on br0 itself.
//
// # Ruleset
//
// sipguard owns one table, "bridge sipguard", and touches nothing else.
// The desired ruleset is a pure function of a [Ruleset] value (settings and
// lists); [Firewall.Apply] computes it, compares it with what the kernel
// holds and sends the difference as one atomic netlink batch. Applying the
// same Ruleset twice sends nothing the second time.
//
// Traffic that enters on the wan port and is forwarded toward the office
// passes, in order:
//
//	stacked VLAN tags (QinQ)          drop   (a tag must never hide a source)
//	allow   (addresses and networks)  accept
//	deny, permanent, dynamic bans     drop
//	countries, blocklist feeds        drop   (or: only allowed countries pass)
//	TFTP per-source rate limit        drop over the limit
//	DNS guard (CVE-2015-7547)         drop responses over 2048 bytes
//	port restriction                  drop new TCP connections to SSH, web, provisioning
//	trusted-only SIP (optional)       drop what the allowlist did not accept
//
// Every drop has its own named counter. Traffic entering on the lan port is
// never filtered. Traffic addressed to the box itself from the wan port is
// dropped unless its source is in the admin allowlist.
//
// The ruleset is stateless: the bridge family has no connection tracking on
// every kernel, so new TCP connections are recognised by their flags. 802.1Q
// frames need no rules of their own: the kernel strips the outer tag before
// the bridge sees the frame, so every rule applies to tagged and untagged
// frames alike, and frames that still carry a second tag are dropped.
//
// # Bans and large sets
//
// Dynamic bans live in timeout sets (per-element timeouts); [Firewall.Ban]
// adds or refreshes any number of them in one netlink batch. A ban covers
// its source's ban prefix (Ruleset.BanPrefix4, an IPv4 address by default;
// BanPrefix6, a /64 by default, since an attacker rotates addresses inside
// its own prefix): the rules mask the source address before the lookup. A
// network ban, wider than the ban prefix, goes into an interval set with
// timeouts, whose ranges the Firewall keeps disjoint. Country ranges and blocklist feeds can hold millions
// of entries: [Firewall.ReplaceSource] loads the new content into a fresh set
// in bounded chunks and then swaps it in with one small atomic batch, so
// memory stays flat and packets see either the old list or the new one,
// never a mix.
package netfilter
