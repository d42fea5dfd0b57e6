package config

import (
	"strings"
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/remotelog"
)

func TestSyslog(t *testing.T) {
	cfg, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Syslog != (remotelog.Config{Facility: 16}) {
		t.Errorf("defaults: %+v, want off with facility local0", cfg.Syslog)
	}
	cfg, err = Parse([]byte("[syslog]\naddress = \"tls://logs.example:6514\"\nfacility = \"local5\"\nhostname = \"front-desk\"\nca = \"/data/ca.pem\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (remotelog.Config{Address: "tls://logs.example:6514", Facility: 21, Hostname: "front-desk", CA: "/data/ca.pem"}); cfg.Syslog != want {
		t.Errorf("got %+v, want %+v", cfg.Syslog, want)
	}
	_, err = Parse([]byte("[syslog]\naddress = \"http://192.0.2.9\"\nfacility = \"local9\"\nhostname = \"front desk\"\nca = \"ca.pem\"\n"))
	for _, want := range []string{
		`syslog.address: "http://192.0.2.9": the scheme is "http", want udp, tcp or tls`,
		`syslog.facility: "local9" is not a syslog facility`,
		`syslog.hostname: "front desk": only printable ASCII without spaces`,
		"syslog.ca: only for a tls:// address",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// config set checks a syslog key as the file does, and changes nothing
// on a bad value.
func TestSetSyslog(t *testing.T) {
	out, err := Set(nil, "syslog.address", "udp://192.0.2.9")
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := Parse(out); err != nil || cfg.Syslog.Address != "udp://192.0.2.9" {
		t.Errorf("after set: %+v, %v", cfg.Syslog, err)
	}
	if _, err := Set(out, "syslog.address", "192.0.2.9:514"); err == nil || !strings.Contains(err.Error(), "syslog.address") {
		t.Errorf("a bad address: %v", err)
	}
}
