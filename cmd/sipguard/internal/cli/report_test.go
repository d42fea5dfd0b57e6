package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// The report ends with one line per extension that called out in the
// last hour.
func TestReportOutboundCalls(t *testing.T) {
	at := time.Date(2026, 11, 24, 3, 4, 0, 0, time.Local)
	r := api.Report{From: at, To: at, Outbound: []api.OutboundCalls{
		{Extension: "201", Calls: 12, HighRisk: 3, OffHours: 12, LastDialled: "+88212345", LastCall: at},
		{Extension: "202", Calls: 1, LastDialled: "+3312345", LastCall: at},
	}}
	var b strings.Builder
	writeReport(&b, r, api.ReportQuery{Day: "2026-11-24"})
	out := b.String()
	for _, want := range []string{"Outbound calls in the last hour",
		"| 201       |    12 |         3 |        12 |    +88212345 | 2026-11-24 03:04 |",
		"| 202       |     1 |         0 |         0 |     +3312345 | 2026-11-24 03:04 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	writeReport(&b, api.Report{From: at, To: at}, api.ReportQuery{})
	if strings.Contains(b.String(), "Outbound") {
		t.Errorf("no outbound call, yet a table:\n%s", b.String())
	}
}
