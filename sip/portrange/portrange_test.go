package portrange

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	got, err := Parse("5060, 5080:5082,69")
	if want := []Range{{5060, 5060}, {5080, 5082}, {69, 69}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
	for _, in := range []string{"0", "5062:5060", "65536", "sip", "5060:"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
	if s := (Range{5080, 5082}).String() + "," + (Range{5060, 5060}).String(); s != "5080:5082,5060" {
		t.Errorf("String = %q", s)
	}
}
