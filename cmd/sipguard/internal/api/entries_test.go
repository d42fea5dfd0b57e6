package api

import (
	"errors"
	"strings"
	"testing"
)

// A list file is refused whole, naming every bad line.
func TestReadEntriesNamesEveryBadLine(t *testing.T) {
	_, err := ReadEntries(strings.NewReader("192.0.2.1\nnope\n# comment\n192.0.2.0/24,ok\n192.0.2.5/24\n192.0.2.9,a,b,c,d\n"), "import")
	var ie *ImportError
	if !errors.As(err, &ie) || len(ie.Lines) != 3 {
		t.Fatalf("%v", err)
	}
	for i, want := range []int{2, 5, 6} {
		if ie.Lines[i].Line != want {
			t.Errorf("bad line %d is line %d, want %d", i, ie.Lines[i].Line, want)
		}
	}
	if !strings.Contains(err.Error(), `line 2: "nope" is not an address or network; line 5:`) {
		t.Errorf("message %q", err)
	}
	got, err := ReadEntries(strings.NewReader("192.0.2.1, office\n2001:db8::/32\n"), "dashboard")
	if err != nil || len(got) != 2 || got[0].Note != "office" || got[0].By != "dashboard" || got[1].Prefix != "2001:db8::/32" {
		t.Errorf("%+v %v", got, err)
	}
}
