package netfilter

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/sip/portrange"
)

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.5":      "203.0.113.5/32",
		" 203.0.113.0/24 ": "203.0.113.0/24",
		"2001:db8::1":      "2001:db8::1/128",
		"2001:db8::/32":    "2001:db8::/32",
		"::ffff:192.0.2.1": "192.0.2.1/32",
	} {
		got, err := ParsePrefix(in)
		if err != nil || got != netip.MustParsePrefix(want) {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "203.0.113.5/24", "203.0.113", "fe80::1%eth0", "example.com", "203.0.113.0/33"} {
		if _, err := ParsePrefix(in); err == nil {
			t.Errorf("ParsePrefix(%q) accepted", in)
		}
	}
}

func TestParseRate(t *testing.T) {
	if n, per, err := ParseRate("10/minute"); err != nil || n != 10 || per != time.Minute {
		t.Errorf("10/minute = %d/%v, %v", n, per, err)
	}
	for _, in := range []string{"10", "0/minute", "10/fortnight", "-1/second"} {
		if _, _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	r := Defaults()
	r.WAN = ""
	r.SIPPorts = []portrange.Range{{First: 10, Last: 5}}
	err := r.Validate()
	if err == nil {
		t.Fatal("invalid ruleset accepted")
	}
	for _, field := range []string{"wan:", "sip_ports[0]:"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
	if err := Defaults().Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}
