package config

import (
	"strings"
	"testing"
	"time"
)

// sip.ban_decay: a week by default, "0" never forgives, a negative one is
// refused naming the key; sip.prefix4 reaches the ruleset's ban prefix.
func TestBanDecayAndPrefix4(t *testing.T) {
	for _, c := range []struct {
		file string
		want time.Duration
		err  string
	}{
		{"", 168 * time.Hour, ""},
		{"[sip]\nban_decay = \"0\"\n", 0, ""},
		{"[sip]\nban_decay = \"720h\"\n", 720 * time.Hour, ""},
		{"[sip]\nban_decay = \"-1h\"\n", 0, "sip.ban_decay"},
	} {
		cfg, err := Parse([]byte(c.file))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want one naming %s", c.file, err, c.err)
			}
			continue
		}
		if err != nil || cfg.BanDecay != c.want {
			t.Errorf("%q: ban decay %v, %v; want %v", c.file, cfg.BanDecay, err, c.want)
		}
	}
	cfg, err := Parse([]byte("[sip]\nprefix4 = 28\n"))
	if err != nil || cfg.Rules.BanPrefix4 != 28 || cfg.SIP.Prefix4 != 28 {
		t.Errorf("prefix4 = 28: ruleset %d, rules %d, %v", cfg.Rules.BanPrefix4, cfg.SIP.Prefix4, err)
	}
}
