package config

import (
	"slices"
	"strings"
	"testing"
)

func TestSetKeepsTheRestOfTheFile(t *testing.T) {
	for _, c := range []struct {
		name, in, key, value, want string
	}{
		{"in place, comment kept", "[sip]\nregister_limit = 5   # per minute\n", "sip.register_limit", "12",
			"[sip]\nregister_limit = 12  # per minute\n"},
		{"a # inside a string", "[sip]\nscanner_agents = [\"a#b\"] # names\nflood_rate = 9\n", "sip.scanner_agents", "x,y",
			"[sip]\nscanner_agents = [\"x\", \"y\"] # names\nflood_rate = 9\n"},
		{"an array over several lines", "[sip]\nprotocols = [\n  \"udp\",\n  \"tcp\",\n] # both\nflood_rate = 9\n", "sip.protocols", `["tcp"]`,
			"[sip]\nprotocols = [\"tcp\"] # both\nflood_rate = 9\n"},
		{"the key in another section is not touched", "[ports]\nwan = \"eth0\"\n\n[sip]\nflood_rate = 9\n", "sip.ports", "5060,5080",
			"[ports]\nwan = \"eth0\"\n\n[sip]\nports = \"5060,5080\"\nflood_rate = 9\n"},
		{"a new section", "[sip]\nflood_rate = 9", "state.file", "/data/state.db",
			"[sip]\nflood_rate = 9\n\n[state]\nfile = \"/data/state.db\"\n"},
		{"an empty file", "", "sip.block_time", "15m", "[sip]\nblock_time = \"15m\"\n"},
	} {
		got, err := Set([]byte(c.in), c.key, c.value)
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %v\n got %q\nwant %q", c.name, err, got, c.want)
		}
	}
}

func TestSetRefusesBadValues(t *testing.T) {
	in := []byte("[sip]\nregister_limit = 5\n")
	for key, value := range map[string]string{
		"sip.register_limit":   "1001",
		"sip.block_threshold":  "x",
		"sip.nothing":          "1",
		"protection.countries": "some",
	} {
		if out, err := Set(in, key, value); err == nil || !strings.Contains(err.Error(), strings.SplitN(key, ".", 2)[1]) {
			t.Errorf("Set %s %s = %q, %v; want an error naming the key", key, value, out, err)
		}
	}
	// A file already broken elsewhere is not made worse, nor "fixed" silently.
	if _, err := Set([]byte("[sip]\ncolour = 1\n"), "sip.flood_rate", "9"); err == nil || !strings.Contains(err.Error(), "sip.colour: unknown key") {
		t.Errorf("Set on a broken file: %v", err)
	}
}

func TestKeysAndGet(t *testing.T) {
	keys := Keys()
	for _, k := range []string{"ports.wan", "sip.register_limit", "protection.tftp_limit", "state.on_stop"} {
		if !slices.Contains(keys, k) {
			t.Errorf("Keys lacks %s: %v", k, keys)
		}
	}
	v, err := Get([]byte("[sip]\nblock_time = \"1h\"\n"), "sip.block_time")
	if err != nil || Format(v) != "1h0m0s" {
		t.Errorf("Get = %v, %v", v, err)
	}
	if v, err := Get(nil, "sip.protocols"); err != nil || Format(v) != `["udp", "tcp"]` {
		t.Errorf("Get a list = %q, %v", Format(v), err)
	}
}

func TestLookup(t *testing.T) {
	for key, want := range map[string]Setting{
		"sip.register_limit":    {Kind: "int", Default: "5"},
		"sip.block_time":        {Kind: "duration", Default: "10m0s"},
		"sip.protocols":         {Kind: "list", Default: "udp,tcp"},
		"management.admin":      {Kind: "list", Default: ""},
		"protection.dns_guard":  {Kind: "bool", Default: "true"},
		"protection.tftp_burst": {Kind: "int", Default: "100"},
		"ports.bridge":          {Kind: "string", Default: "br0"},
	} {
		want.Key = key
		if got, err := Lookup(key); err != nil || got != want {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v", key, got, err, want)
		}
	}
	if _, err := Lookup("sip.nothing"); err == nil || !strings.Contains(err.Error(), "sip.nothing: unknown key") {
		t.Errorf("Lookup of an unknown key: %v", err)
	}
	// A key's default, written as Set takes it, sets the default again.
	for _, key := range Keys() {
		s, err := Lookup(key)
		if err != nil || s.Kind == "table" {
			continue
		}
		if v, err := Value(nil, key); err != nil || v != s.Default {
			t.Errorf("Value(nil, %s) = %q, %v; want the default %q", key, v, err, s.Default)
		}
		if _, err := Set(nil, key, s.Default); err != nil {
			t.Errorf("Set %s to its default %q: %v", key, s.Default, err)
		}
	}
}

// Changes are checked together: the ports swapped, which one change at a
// time could not do.
func TestApplyChecksTheWhole(t *testing.T) {
	in := []byte("[ports]\nwan = \"eth0\"\nlan = \"eth1\"\n")
	if _, err := Set(in, "ports.wan", "eth1"); err == nil {
		t.Error("the wan port set to the lan port's")
	}
	out, err := Apply(in, Change{"ports.wan", "eth1"}, Change{"ports.lan", "eth0"})
	if err != nil || string(out) != "[ports]\nwan = \"eth1\"\nlan = \"eth0\"\n" {
		t.Errorf("Apply = %q, %v", out, err)
	}
	_, err = Apply(nil, Change{"sip.block_time", "soon"}, Change{"sip.flood_rate", "x"})
	for _, want := range []string{`sip.block_time: "soon" is not a duration`, `sip.flood_rate: "x" is not a whole number`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Apply of bad values: %v; want %q", err, want)
		}
	}
}

// A table's keys (notify.smtp.host) are keys of their own: set one by
// one, in the table's section, which is made if missing.
func TestSetTableKeys(t *testing.T) {
	keys := Keys()
	if !slices.Contains(keys, "notify.smtp.host") || !slices.Contains(keys, "notify.webhook.url") || slices.Contains(keys, "notify.smtp") || !slices.Contains(keys, "feeds.custom") {
		t.Errorf("keys %v", keys)
	}
	if s, err := Lookup("notify.smtp.port"); err != nil || s.Kind != "int" || s.Default != "0" {
		t.Errorf("Lookup = %+v, %v", s, err)
	}
	in := "[notify]\nalerts = true\n\n[notify.smtp]\nhost = \"mail.example.com\" # the relay\nto = [\"it@example.com\"]\n"
	out, err := Apply([]byte(in), Change{"notify.smtp.host", "relay.example.com"}, Change{"notify.smtp.from", "box@example.com"}, Change{"notify.webhook.url", "https://chat.example.com/hook"})
	want := "[notify]\nalerts = true\n\n[notify.smtp]\nfrom = \"box@example.com\"\nhost = \"relay.example.com\" # the relay\nto = [\"it@example.com\"]\n\n[notify.webhook]\nurl = \"https://chat.example.com/hook\"\n"
	if err != nil || string(out) != want {
		t.Fatalf("Apply = %v\n got %q\nwant %q", err, out, want)
	}
	if v, err := Value(out, "notify.smtp.host"); err != nil || v != "relay.example.com" {
		t.Errorf("Value = %q, %v", v, err)
	}
	// The section's own keys stay out of the table.
	out, err = Set(out, "notify.daily", "true")
	if err != nil || !strings.HasPrefix(string(out), "[notify]\ndaily = true\nalerts = true\n") {
		t.Errorf("Set notify.daily = %q, %v", out, err)
	}
	if _, err := Set(nil, "notify.smtp.port", "many"); err == nil || !strings.Contains(err.Error(), `notify.smtp.port: "many" is not a whole number`) {
		t.Errorf("a bad value: %v", err)
	}
}
