package daemon

import (
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
)

// The metrics show the CrowdSec parts that run: up after a good exchange,
// with their errors since start and the agent's alerts given up.
func TestCrowdSecHealth(t *testing.T) {
	ok := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	hs := crowdsecHealth(crowdsec.Status{Mode: crowdsec.Mode("both"),
		Bouncer: &crowdsec.BouncerStatus{Link: crowdsec.Link{State: crowdsec.StateOK, LastSuccess: ok, Errors: 3}},
		Agent:   &crowdsec.AgentStatus{Link: crowdsec.Link{State: "down", Errors: 7}, Dropped: 2}})
	if len(hs) != 2 {
		t.Fatalf("health of bouncer and agent: %+v", hs)
	}
	if b := hs[0]; b.Component != "crowdsec_bouncer" || !b.Up || !b.LastSuccess.Equal(ok) || b.Errors != 3 {
		t.Errorf("bouncer: %+v", b)
	}
	if a := hs[1]; a.Component != "crowdsec_agent" || a.Up || a.Errors != 7 || a.Dropped != 2 {
		t.Errorf("agent: %+v", a)
	}
	if hs := crowdsecHealth(crowdsec.Status{Mode: crowdsec.Mode("off")}); len(hs) != 0 {
		t.Errorf("off: %+v", hs)
	}
}
