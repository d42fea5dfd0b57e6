package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
)

type crowdSecDaemon struct {
	*fakeDaemon
}

func (crowdSecDaemon) CrowdSec(context.Context) (crowdsec.Status, error) {
	return crowdsec.Status{Mode: crowdsec.ModeBoth, URL: "http://192.0.2.50:8080/",
		Bouncer: &crowdsec.BouncerStatus{Link: crowdsec.Link{State: crowdsec.StateOK}, Decisions: 42, V4: 40, V6: 2, Added: 50, Deleted: 8},
		Agent:   &crowdsec.AgentStatus{Link: crowdsec.Link{State: crowdsec.StateDown, LastError: "dial tcp 192.0.2.50:8080: connection refused"}, Sent: 17, Queued: 3}}, nil
}

func TestCrowdSecCommand(t *testing.T) {
	sock := serveBackend(t, crowdSecDaemon{&fakeDaemon{}})
	code, out, _ := run(t, "--api", sock, "crowdsec")
	for _, want := range []string{"CrowdSec: both, http://192.0.2.50:8080/; bouncer ok, 42 decisions; agent down, 17 sent, 3 queued",
		"decisions in force", "42", "connection refused"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("crowdsec: %d, lacks %q:\n%s", code, want, out)
		}
	}
	if code, out, _ := run(t, "--api", sock, "crowdsec", "--json"); code != 0 || !strings.Contains(out, `"decisions": 42`) {
		t.Errorf("crowdsec --json: %d\n%s", code, out)
	}
	if code, out, _ := run(t, "--api", sock, "status"); code != 0 || !strings.Contains(out, "CrowdSec: both, http://192.0.2.50:8080/; bouncer ok") {
		t.Errorf("status lacks the CrowdSec line: %d\n%s", code, out)
	}
	// A daemon that does not report CrowdSec: status has no line.
	if code, out, _ := run(t, "--api", serveFake(t, &fakeDaemon{}), "status"); code != 0 || strings.Contains(out, "CrowdSec:") {
		t.Errorf("status: %d\n%s", code, out)
	}
}
