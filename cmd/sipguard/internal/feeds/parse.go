package feeds

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// maxLine is the longest line a text feed may have; a longer one is a bad
// line (and is skipped to its end).
const maxLine = 4096

// maxNoted is how many bad and refused lines a status remembers.
const maxNoted = 5

// counts describes what a parse found, beyond the entries themselves.
type counts struct {
	Lines    int      // lines holding an entry (not blank, not only a comment)
	Bad      int      // lines that are not an address or network
	BadAt    []int    // the first bad lines' numbers (1-based)
	Refused  int      // networks too broad to block (shorter than /8 or /16)
	Refusals []string // the first refusals, with line number and reason
	Ignored  int      // entries that would block the office's own networks
	Bytes    int64    // bytes read (after decompression)
}

// errTooMany reports that a feed holds more entries than its limit.
var errTooMany = errors.New("too many entries")

// parser accumulates a feed's entries and counts, line by line.
type parser struct {
	l          list
	c          counts
	maxEntries int
}

func (p *parser) entries() int { return len(p.l.v4) + len(p.l.v6) }

func (p *parser) bad(line int) {
	p.c.Bad++
	if len(p.c.BadAt) < maxNoted {
		p.c.BadAt = append(p.c.BadAt, line)
	}
}

// parseText reads a plain text feed: one IPv4 or IPv6 address or network
// per line; '#' and ';' start a comment that runs to the end of the line;
// blank lines are skipped; anything else after the entry is a bad line.
func parseText(r io.Reader, maxEntries int) (*list, counts, error) {
	p := parser{maxEntries: maxEntries}
	br := bufio.NewReaderSize(r, maxLine)
	for n := 1; ; n++ {
		b, err := br.ReadSlice('\n')
		p.c.Bytes += int64(len(b))
		if errors.Is(err, bufio.ErrBufferFull) {
			p.c.Lines++
			p.bad(n)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				p.c.Bytes += int64(len(b))
			}
			if err == nil {
				continue
			}
			b = nil
		}
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if len(b) > 0 {
			if lerr := p.line(n, b); lerr != nil {
				return nil, p.c, lerr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, p.c, fmt.Errorf("read line %d: %w", n, err)
		}
	}
	p.l.normalize()
	return &p.l, p.c, nil
}

// line reads one line of a text feed.
func (p *parser) line(n int, b []byte) error {
	for i, c := range b {
		if c == '#' || c == ';' {
			b = b[:i]
			break
		}
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	p.c.Lines++
	if hasSpace(b) {
		// Only a comment may follow the entry, and comments are gone.
		p.bad(n)
		return nil
	}
	return p.entry(n, b)
}

// entry classifies one address or network (written as it came) and keeps it
// if it may be blocked.
func (p *parser) entry(n int, field []byte) error {
	if addr, bits, ok := parseV4(field); ok {
		return p.add4(n, field, addr, bits)
	}
	pfx, ok := parseOther(field)
	if !ok {
		p.bad(n)
		return nil
	}
	if pfx.Addr().Is4() {
		a := pfx.Addr().As4()
		return p.add4(n, field, uint32(a[0])<<24|uint32(a[1])<<16|uint32(a[2])<<8|uint32(a[3]), pfx.Bits())
	}
	return p.add6(n, field, pfx)
}

func (p *parser) add4(n int, field []byte, addr uint32, bits int) error {
	if bits < 32 && addr&(^uint32(0)>>bits) != 0 {
		p.bad(n) // host bits set: "203.0.113.5/24" is ambiguous
		return nil
	}
	if bits < minBits4 {
		p.refuse(n, field, minBits4)
		return nil
	}
	if office4(addr, v4last(v4key(addr, bits))) {
		p.c.Ignored++
		return nil
	}
	if p.entries() >= p.maxEntries {
		return fmt.Errorf("line %d: %w (limit %d)", n, errTooMany, p.maxEntries)
	}
	p.l.v4 = append(p.l.v4, v4key(addr, bits))
	return nil
}

func (p *parser) add6(n int, field []byte, pfx netip.Prefix) error {
	if pfx.Masked() != pfx {
		p.bad(n)
		return nil
	}
	if pfx.Bits() < minBits6 {
		p.refuse(n, field, minBits6)
		return nil
	}
	if office6(pfx) {
		p.c.Ignored++
		return nil
	}
	if p.entries() >= p.maxEntries {
		return fmt.Errorf("line %d: %w (limit %d)", n, errTooMany, p.maxEntries)
	}
	p.l.v6 = append(p.l.v6, pfx6From(pfx))
	return nil
}

func (p *parser) refuse(n int, field []byte, min int) {
	p.c.Refused++
	if len(p.c.Refusals) < maxNoted {
		p.c.Refusals = append(p.c.Refusals,
			fmt.Sprintf("line %d: %s is too broad to block (shorter than /%d)", n, field, min))
	}
}

// The shortest networks a feed may block: anything broader would cut off a
// large part of the internet (0.0.0.0/0 and ::/0 all of it).
const (
	minBits4 = 8
	minBits6 = 16
)

func hasSpace(b []byte) bool {
	for _, c := range b {
		if c == ' ' || c == '\t' {
			return true
		}
	}
	return false
}

// parseV4 reads a dotted-quad IPv4 address with an optional "/len", without
// allocating. Octets have no leading zeros (as netip requires).
func parseV4(b []byte) (addr uint32, bits int, ok bool) {
	i := 0
	for octet := range 4 {
		if octet > 0 {
			if i >= len(b) || b[i] != '.' {
				return 0, 0, false
			}
			i++
		}
		v, j, ok := parseDec(b, i, 255)
		if !ok {
			return 0, 0, false
		}
		addr, i = addr<<8|uint32(v), j
	}
	if i == len(b) {
		return addr, 32, true
	}
	if b[i] != '/' {
		return 0, 0, false
	}
	v, j, ok := parseDec(b, i+1, 32)
	if !ok || j != len(b) {
		return 0, 0, false
	}
	return addr, v, true
}

// parseDec reads a decimal number of at most 3 digits, no leading zero and
// at most max, at b[i:].
func parseDec(b []byte, i, max int) (v, j int, ok bool) {
	j = i
	for j < len(b) && j-i < 4 && b[j] >= '0' && b[j] <= '9' {
		v = v*10 + int(b[j]-'0')
		j++
	}
	if j == i || j-i > 3 || v > max || (b[i] == '0' && j-i > 1) {
		return 0, 0, false
	}
	return v, j, true
}

// parseOther reads anything parseV4 does not: IPv6 addresses and networks,
// and IPv4-mapped IPv6 addresses (kept as IPv4). Zones are refused.
func parseOther(b []byte) (netip.Prefix, bool) {
	s := string(b)
	if bytes.IndexByte(b, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96), true
		}
		return p, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// The networks of the office itself, of its provider's carrier-grade NAT,
// and addresses no internet host has: blocking them could cut the box's own
// site off. Documentation ranges (192.0.2.0/24, 198.51.100.0/24,
// 203.0.113.0/24, 2001:db8::/32) are not among them.
var office4Ranges = [...][2]uint32{
	{0x00000000, 0x00ffffff}, // 0.0.0.0/8 "this network"
	{0x0a000000, 0x0affffff}, // 10.0.0.0/8
	{0x64400000, 0x647fffff}, // 100.64.0.0/10 carrier-grade NAT
	{0x7f000000, 0x7fffffff}, // 127.0.0.0/8 loopback
	{0xa9fe0000, 0xa9feffff}, // 169.254.0.0/16 link-local
	{0xac100000, 0xac1fffff}, // 172.16.0.0/12
	{0xc0a80000, 0xc0a8ffff}, // 192.168.0.0/16
	{0xe0000000, 0xffffffff}, // 224.0.0.0/4 multicast, 240.0.0.0/4 reserved
}

var office6Ranges = [...]netip.Prefix{
	netip.MustParsePrefix("::1/128"),   // loopback
	netip.MustParsePrefix("fe80::/10"), // link-local
	netip.MustParsePrefix("fc00::/7"),  // unique local
	netip.MustParsePrefix("ff00::/8"),  // multicast
}

// office4 tells whether the range first..last touches an office range.
func office4(first, last uint32) bool {
	for _, r := range office4Ranges {
		if first <= r[1] && r[0] <= last {
			return true
		}
	}
	return false
}

func office6(p netip.Prefix) bool {
	for _, r := range office6Ranges {
		if r.Overlaps(p) {
			return true
		}
	}
	return false
}
