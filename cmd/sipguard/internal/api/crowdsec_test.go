package api

import (
	"context"
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
)

type crowdSecBackend struct {
	*fakeBackend
	st crowdsec.Status
}

func (c crowdSecBackend) CrowdSec(context.Context) (crowdsec.Status, error) { return c.st, nil }

func TestCrowdSec(t *testing.T) {
	want := crowdsec.Status{Mode: crowdsec.ModeBoth, URL: "http://192.0.2.50:8080/",
		Bouncer: &crowdsec.BouncerStatus{Link: crowdsec.Link{State: crowdsec.StateOK}, Decisions: 3, V4: 2, V6: 1},
		Agent:   &crowdsec.AgentStatus{Link: crowdsec.Link{State: crowdsec.StateDown, LastError: "connection refused"}, Queued: 7}}
	c := serve(t, crowdSecBackend{&fakeBackend{}, want})
	got, err := c.CrowdSec(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != want.Mode || got.URL != want.URL || *got.Bouncer != *want.Bouncer || *got.Agent != *want.Agent {
		t.Errorf("got %+v", got)
	}
	// A backend without CrowdSec answers 404.
	c = serve(t, &fakeBackend{})
	if _, err = c.CrowdSec(context.Background()); err == nil {
		t.Error("a backend without CrowdSec answered")
	}
}
