package config

import (
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
)

func TestCrowdSecSection(t *testing.T) {
	cfg, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CrowdSec.Mode != crowdsec.ModeOff || cfg.CrowdSec.Poll != 10*time.Second {
		t.Errorf("defaults = %+v, want off, polling every 10s", cfg.CrowdSec)
	}
	cfg, err = Parse([]byte("[crowdsec]\nmode = \"both\"\nurl = \"http://192.0.2.50:8080/\"\nbouncer_key = \"k\"\nmachine_id = \"site1\"\nmachine_password = \"p\"\npoll = \"30s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CrowdSec.Mode != crowdsec.ModeBoth || cfg.CrowdSec.URL != "http://192.0.2.50:8080/" || cfg.CrowdSec.Poll != 30*time.Second || cfg.CrowdSec.MachinePassword != "p" {
		t.Errorf("parsed %+v", cfg.CrowdSec)
	}
	_, err = Parse([]byte("[crowdsec]\nmode = \"on\"\nurl = \"192.0.2.50\"\npoll = \"0.5s\"\n"))
	for _, want := range []string{
		`crowdsec.mode: "on" is not off, bouncer, agent or both`,
		`crowdsec.url: "192.0.2.50" is not an http:// or https:// URL`,
		"crowdsec.poll: 500ms is outside 1s–1h",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = Parse([]byte("[crowdsec]\nmode = \"bouncer\"\nurl = \"http://192.0.2.50:8080/\"\n"))
	if err == nil || !strings.Contains(err.Error(), "crowdsec.bouncer_key: mode bouncer needs a bouncer key") {
		t.Errorf("a bouncer without a key: %v", err)
	}
	// sipguard config set says the same.
	if _, err := Set(nil, "crowdsec.mode", "on"); err == nil || !strings.Contains(err.Error(), `crowdsec.mode: "on" is not off, bouncer, agent or both`) {
		t.Errorf("config set: %v", err)
	}
}
