package cli

import (
	"strings"
	"testing"
)

func TestReadEntries(t *testing.T) {
	got, err := readEntries(strings.NewReader(`# sipPROT list file
192.168.1.1
192.0.2.0/24, "office, main site"

2001:db8::1,carrier
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Prefix != "192.168.1.1/32" || got[1].Note != "office, main site" || got[2].Prefix != "2001:db8::1/128" || got[2].Note != "carrier" {
		t.Errorf("entries %+v", got)
	}
	for in, want := range map[string]string{
		"192.0.2.1\nnot-an-address\n":  "line 2",
		"192.0.2.0/24\n192.0.2.5/24\n": "line 2: \"192.0.2.5/24\" has host bits set",
		"# only a comment\n":           "no entries",
		"192.0.2.1,a,b,c,d\n":          "line 1: 5 fields",
		"192.0.2.1,\"unterminated\n":   "extraneous",
	} {
		if _, err := readEntries(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestListUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"deny", "del", "--all"}, "confirm with --yes"},
		{[]string{"deny", "del"}, "give addresses"},
		{[]string{"allow", "add", "192.0.2.5/24"}, "host bits"},
	} {
		code, _, stderr := run(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: %d %s", c.args, code, stderr)
		}
	}
}
