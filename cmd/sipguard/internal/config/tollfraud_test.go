package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTollFraudSection(t *testing.T) {
	cfg, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	tf := cfg.TollFraud
	if !tf.Enabled || tf.InternationalPrefix != "00" || tf.CallsPerHour != 30 || tf.HighRiskPerHour != 0 ||
		tf.Location != time.UTC || !slices.Contains(tf.HighRisk, "+882") || len(tf.Block) != 0 || cfg.Rules.BlockDialled != nil {
		t.Errorf("defaults: %+v", tf)
	}
	// Monday 2026-03-02 at 07:30 UTC is 08:30 in Paris.
	if monday := time.Date(2026, 3, 2, 7, 30, 0, 0, time.UTC); tf.OfficeHours.Contains(monday) {
		t.Error("default office hours: 07:30 UTC is before 08:00 UTC")
	}

	cfg, err = Parse([]byte(`
[ports]
lan = "eth1"
[tollfraud]
international_prefix = "011"
high_risk = ["+882"]
calls_per_hour = 12
high_risk_per_hour = 2
office_hours = "Mon-Sat 07:00-19:00"
timezone = "Europe/Paris"
block = ["+882", "011882"]
`))
	if err != nil {
		t.Fatal(err)
	}
	tf = cfg.TollFraud
	if tf.InternationalPrefix != "011" || tf.CallsPerHour != 12 || tf.HighRiskPerHour != 2 || tf.Location.String() != "Europe/Paris" ||
		!tf.OfficeHours.Contains(time.Date(2026, 3, 2, 7, 30, 0, 0, time.UTC)) {
		t.Errorf("file: %+v", tf)
	}
	if !slices.Equal(cfg.Rules.BlockDialled, []string{"+882", "011882"}) || cfg.Rules.LAN != "eth1" {
		t.Errorf("the block is not in the ruleset: %q on %q", cfg.Rules.BlockDialled, cfg.Rules.LAN)
	}

	for _, c := range []struct{ file, want string }{
		{"calls_per_hour = 0", "tollfraud.calls_per_hour: 0 is outside"},
		{"high_risk_per_hour = -1", "tollfraud.high_risk_per_hour"},
		{`international_prefix = "+"`, "tollfraud.international_prefix"},
		{`high_risk = ["882"]`, "tollfraud.high_risk[0]"},
		{`block = ["+882", "sip:+883"]`, "tollfraud.block[1]"},
		{`office_hours = "weekdays"`, "tollfraud.office_hours"},
		{`office_hours = "Mon-Fri 18:00-08:00"`, "tollfraud.office_hours"},
		{`timezone = "Mars/Olympus"`, "tollfraud.timezone"},
		{`timezone = ""`, "tollfraud.timezone"},
	} {
		_, err := Parse([]byte("[tollfraud]\n" + c.file + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", c.file, err, c.want)
		}
	}
}

// The section's keys are set like any other.
func TestSetTollFraud(t *testing.T) {
	data, err := Apply(nil, Change{Key: "tollfraud.block", Value: "+882,00882"}, Change{Key: "tollfraud.calls_per_hour", Value: "10"},
		Change{Key: "tollfraud.timezone", Value: "America/New_York"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.TollFraud.Block, []string{"+882", "00882"}) || cfg.TollFraud.CallsPerHour != 10 || cfg.TollFraud.Location.String() != "America/New_York" {
		t.Errorf("set: %+v", cfg.TollFraud)
	}
	if _, err := Apply(data, Change{Key: "tollfraud.block", Value: "+882,abc"}); err == nil || !strings.Contains(err.Error(), "tollfraud.block[1]") {
		t.Errorf("a bad block: %v", err)
	}
}
