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
