package netfilter

import (
	"encoding/binary"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Small builders for the expressions the ruleset is made of. Each returns
// the expressions of one nft match, so a rule reads like its nft text.

const (
	ethIP    = 0x0800
	ethIP6   = 0x86dd
	ethARP   = 0x0806
	eth8021Q = 0x8100
	eth8021D = 0x88a8 // 802.1ad, the outer tag of QinQ

	objCounter = 1 // NFT_OBJECT_COUNTER

	// payloadInner is the payload base after the transport header (nft's
	// @ih), where a TCP segment's data begins.
	payloadInner expr.PayloadBase = 3

	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10

	// Registers: reg1 is the first 16-byte register; reg32(n) are the 4-byte
	// registers used to build concatenated keys after an address.
	reg1 = 1
)

func reg32(n uint32) uint32 { return 8 + n } // NFT_REG32_00 + n

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func ifname(name string) []byte {
	b := make([]byte, 16) // IFNAMSIZ, zero padded
	copy(b, name)
	return b
}

// family describes where IPv4 and IPv6 keep what the rules read.
type family struct {
	ether     uint16
	saddr     uint32 // offset in the network header
	daddr     uint32
	addrLen   uint32
	suffix    string // set name suffix: "4" or "6"
	icmpProto byte
}

var (
	ipv4 = family{ether: ethIP, saddr: 12, daddr: 16, addrLen: 4, suffix: "4", icmpProto: unix.IPPROTO_ICMP}
	ipv6 = family{ether: ethIP6, saddr: 8, daddr: 24, addrLen: 16, suffix: "6", icmpProto: unix.IPPROTO_ICMPV6}
)

// etherType matches meta protocol: the frame's protocol after the kernel
// stripped the outer VLAN tag.
func etherType(t uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: be16(t)},
	}
}

func iifname(name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: ifname(name)},
	}
}

func l4proto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{p}},
	}
}

func loadNet(offset, length, reg uint32) *expr.Payload {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: length}
}

func loadTransport(offset, length, reg uint32) *expr.Payload {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: offset, Len: length}
}

func sport() *expr.Payload { return loadTransport(0, 2, reg1) }
func dport() *expr.Payload { return loadTransport(2, 2, reg1) }

func cmp(op expr.CmpOp, data []byte) *expr.Cmp {
	return &expr.Cmp{Op: op, Register: reg1, Data: data}
}

// portIs matches a transport header field (sport or dport) against one port.
func portIs(field *expr.Payload, port uint16) []expr.Any {
	return []expr.Any{field, cmp(expr.CmpOpEq, be16(port))}
}

func lookup(set string, invert bool) *expr.Lookup {
	return &expr.Lookup{SourceRegister: reg1, SetName: set, Invert: invert}
}

// saddrIn matches "ip saddr @set" (or "!= @set") for the family.
func saddrIn(f family, set string, invert bool) []expr.Any {
	return []expr.Any{loadNet(f.saddr, f.addrLen, reg1), lookup(set+f.suffix, invert)}
}

// tcpFlags matches (tcp flags & mask) op value.
func tcpFlags(mask, value byte, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		loadTransport(13, 1, reg1),
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 1, Mask: []byte{mask}, Xor: []byte{0}},
		cmp(op, []byte{value}),
	}
}

// count adds to a named counter.
func count(name string) *expr.Objref { return &expr.Objref{Type: objCounter, Name: name} }

func verdict(k expr.VerdictKind) *expr.Verdict { return &expr.Verdict{Kind: k} }

func jump(chain string) *expr.Verdict { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }

func drop(counter string) []expr.Any {
	return []expr.Any{count(counter), verdict(expr.VerdictDrop)}
}

func accept(counter string) []expr.Any {
	return []expr.Any{count(counter), verdict(expr.VerdictAccept)}
}

// mask6 returns the netmask of an IPv6 prefix length.
func mask6(bits int) []byte {
	m := make([]byte, 16)
	for i := range m {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return m
}

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
