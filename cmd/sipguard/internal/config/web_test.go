package config

import (
	"strings"
	"testing"
)

func TestDashboardPorts(t *testing.T) {
	cfg, err := Parse(nil)
	if err != nil || cfg.Web != (WebSettings{HTTPSPort: 443, HTTPPort: 80}) {
		t.Fatalf("defaults: %+v, %v", cfg.Web, err)
	}
	cfg, err = Parse([]byte("[management]\nhttps_port = 8443\nhttp_port = 0\n"))
	if err != nil || cfg.Web != (WebSettings{HTTPSPort: 8443}) {
		t.Errorf("8443 without http: %+v, %v", cfg.Web, err)
	}
	for _, c := range []struct{ key, value, want string }{
		{"management.https_port", "0", "management.https_port: 0 is not a port (1-65535)"},
		{"management.https_port", "70000", "management.https_port: 70000 is not a port"},
		{"management.http_port", "-1", "management.http_port: -1 is not a port (1-65535, or 0 for none)"},
		{"management.http_port", "443", "management.http_port: 443 is also the https port"},
	} {
		if _, err := Set(nil, c.key, c.value); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config set %s %s: %v, want %q", c.key, c.value, err, c.want)
		}
	}
	if out, err := Set(nil, "management.http_port", "0"); err != nil || !strings.Contains(string(out), "http_port = 0") {
		t.Errorf("config set management.http_port 0: %v\n%s", err, out)
	}
}
