package feeds

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func prefixes(l *list) []string {
	var out []string
	for p := range merged([]*list{l}) {
		out = append(out, p.String())
	}
	return out
}

func TestParseFormats(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
		ignored    int
		refused    int
	}{{
		name: "voipbl",
		text: "# VoIPBL blacklist\n#\n198.51.100.7/32\n203.0.113.0/24\n\n198.51.100.9\n",
		want: []string{"198.51.100.7/32", "198.51.100.9/32", "203.0.113.0/24"},
	}, {
		name:    "firehol netset",
		text:    "#\n# firehol_level1\n# ipv4 hash:net ipset\n#\n0.0.0.0/8\n10.0.0.0/8\n100.64.0.0/10\n127.0.0.0/8\n172.16.0.0/12\n192.168.0.0/16\n224.0.0.0/3\n192.0.2.0/24\n198.51.100.0/23\n",
		want:    []string{"192.0.2.0/24", "198.51.100.0/23"},
		ignored: 6,
		refused: 1,
	}, {
		name: "spamhaus drop",
		text: "; Spamhaus DROP List 2026/11/25 - (c) 2026 The Spamhaus Project SLU\r\n; Last-Modified: Wed, 25 Nov 2026 09:00:00 GMT\r\n203.0.113.0/24 ; SBL123\r\n198.51.100.0/24 ; SBL456\r\n",
		want: []string{"198.51.100.0/24", "203.0.113.0/24"},
	}, {
		name: "spamhaus drop v6",
		text: "; Spamhaus DROPv6 List\n2001:db8:1000::/36 ; SBL1\n2001:db8:2000::/35 ; SBL2\n",
		want: []string{"2001:db8:1000::/36", "2001:db8:2000::/35"},
	}, {
		name: "trailing comments, tabs, BOM, no final newline",
		text: "\xef\xbb\xbf198.51.100.1 # scanner\n\t203.0.113.5\t; note\n2001:db8::1 #x\n::ffff:192.0.2.9",
		want: []string{"192.0.2.9/32", "198.51.100.1/32", "203.0.113.5/32", "2001:db8::1/128"},
	}, {
		name: "duplicates and covered entries",
		text: "203.0.113.0/24\n203.0.113.7\n203.0.113.0/24\n203.0.113.128/25\n2001:db8::/32\n2001:db8:1::/48\n",
		want: []string{"203.0.113.0/24", "2001:db8::/32"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c, err := parseText(strings.NewReader(tt.text), 100)
			if err != nil {
				t.Fatal(err)
			}
			if got := prefixes(l); !slices.Equal(got, tt.want) {
				t.Errorf("entries %q, want %q", got, tt.want)
			}
			if c.Bad != 0 || c.Ignored != tt.ignored || c.Refused != tt.refused {
				t.Errorf("bad %d ignored %d refused %d, want 0, %d, %d (%v)", c.Bad, c.Ignored, c.Refused, tt.ignored, tt.refused, c.Refusals)
			}
			if c.Bytes != int64(len(tt.text)) {
				t.Errorf("bytes %d, want %d", c.Bytes, len(tt.text))
			}
		})
	}
}

func TestParseBadLines(t *testing.T) {
	text := strings.Join([]string{
		"198.51.100.1",                  // 1 good
		"not an address",                // 2 bad: words
		"198.51.100.1/24",               // 3 bad: host bits
		"198.51.100.2 extra",            // 4 bad: text after the entry
		"256.1.1.1",                     // 5 bad
		"01.2.3.4",                      // 6 bad: leading zero
		"1.2.3.4/33",                    // 7 bad
		"fe80::1%eth0",                  // 8 bad: zone
		strings.Repeat("9", maxLine+10), // 9 bad: too long
		"203.0.113.9",                   // 10 good
	}, "\n")
	l, c, err := parseText(strings.NewReader(text), 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := prefixes(l), []string{"198.51.100.1/32", "203.0.113.9/32"}; !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
	if c.Bad != 8 || c.Lines != 10 {
		t.Errorf("bad %d of %d lines, want 8 of 10", c.Bad, c.Lines)
	}
	if want := []int{2, 3, 4, 5, 6}; !slices.Equal(c.BadAt, want) {
		t.Errorf("bad lines noted %v, want %v", c.BadAt, want)
	}
}

func TestParseRefusesTooBroad(t *testing.T) {
	text := "0.0.0.0/0\n::/0\n8.0.0.0/7\n2000::/15\n11.0.0.0/8\n2a00::/16\n"
	l, c, err := parseText(strings.NewReader(text), 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := prefixes(l), []string{"11.0.0.0/8", "2a00::/16"}; !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
	if c.Refused != 4 {
		t.Fatalf("refused %d, want 4", c.Refused)
	}
	for i, want := range []string{
		"line 1: 0.0.0.0/0 is too broad to block (shorter than /8)",
		"line 2: ::/0 is too broad to block (shorter than /16)",
		"line 3: 8.0.0.0/7 is too broad",
		"line 4: 2000::/15 is too broad",
	} {
		if !strings.HasPrefix(c.Refusals[i], want) {
			t.Errorf("refusal %d %q, want %q", i, c.Refusals[i], want)
		}
	}
}

func TestParseOfficeRangesIgnored(t *testing.T) {
	office := []string{
		"0.1.2.3", "10.1.2.3", "10.0.0.0/8", "172.16.5.0/24", "172.31.255.255", "192.168.1.1",
		"100.64.0.1", "100.127.255.255", "127.0.0.1", "169.254.1.1", "224.0.0.1", "239.1.1.1", "240.0.0.1",
		"255.255.255.255", "172.0.0.0/8", "::1", "fe80::1", "fd00::1", "fd12::/16", "ff02::1", "::/16",
	}
	public := []string{
		"192.0.2.1", "198.51.100.0/24", "203.0.113.0/24", "100.63.255.255", "100.128.0.0", "172.15.255.255",
		"172.32.0.0", "192.167.255.255", "11.0.0.0", "223.255.255.255", "2001:db8::/32", "fec0::1", "fe00::1",
	}
	text := strings.Join(append(slices.Clone(office), public...), "\n")
	l, c, err := parseText(strings.NewReader(text), 100)
	if err != nil {
		t.Fatal(err)
	}
	if c.Ignored != len(office) || c.Bad != 0 {
		t.Errorf("ignored %d (bad %d), want %d", c.Ignored, c.Bad, len(office))
	}
	if got := len(prefixes(l)); got != len(public) {
		t.Errorf("kept %d entries %q, want %d", got, prefixes(l), len(public))
	}
}

func TestParseMaxEntries(t *testing.T) {
	_, _, err := parseText(strings.NewReader("192.0.2.1\n192.0.2.2\n192.0.2.3\n"), 2)
	if !errors.Is(err, errTooMany) || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("err %v, want too many entries at line 3", err)
	}
}

func TestMergedDeterministic(t *testing.T) {
	a, _, _ := parseText(strings.NewReader("203.0.113.0/24\n198.51.100.5\n2001:db8:1::/48\n192.0.2.1\n"), 100)
	b, _, _ := parseText(strings.NewReader("203.0.113.77\n198.51.100.0/24\n2001:db8::/32\n192.0.2.1\n192.0.2.2\n"), 100)
	c, _, _ := parseText(strings.NewReader("2001:db8:ffff::1\n203.0.112.0/23\n"), 100)
	want := []string{"192.0.2.1/32", "192.0.2.2/32", "198.51.100.0/24", "203.0.112.0/23", "2001:db8::/32"}
	for _, order := range [][]*list{{a, b, c}, {c, b, a}, {b, c, a}} {
		var got []string
		for p := range merged(order) {
			got = append(got, p.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("merged %q, want %q", got, want)
		}
	}
	n := 0
	for range merged([]*list{a, b}) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("stopping early yielded %d", n)
	}
}

func TestV4Last(t *testing.T) {
	for _, tt := range []struct {
		p    string
		last string
	}{{"10.0.0.0/8", "10.255.255.255"}, {"192.0.2.7/32", "192.0.2.7"}, {"0.0.0.0/0", "255.255.255.255"}} {
		p := netip.MustParsePrefix(tt.p)
		a := p.Addr().As4()
		k := v4key(uint32(a[0])<<24|uint32(a[1])<<16|uint32(a[2])<<8|uint32(a[3]), p.Bits())
		l := v4last(k)
		if got := fmt.Sprintf("%d.%d.%d.%d", byte(l>>24), byte(l>>16), byte(l>>8), byte(l)); got != tt.last {
			t.Errorf("last of %s = %s, want %s", tt.p, got, tt.last)
		}
		if v4prefix(k) != p {
			t.Errorf("round trip %s = %v", tt.p, v4prefix(k))
		}
	}
	for _, s := range []string{"2001:db8::/32", "2001:db8::1/128", "2001:db8:0:1:8000::/65"} {
		p := netip.MustParsePrefix(s)
		if got := pfx6From(p).prefix(); got != p {
			t.Errorf("round trip %s = %v", s, got)
		}
	}
}
