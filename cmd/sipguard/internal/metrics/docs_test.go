package metrics

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/pipeline"
	"github.com/sipguard/sipguard/sip"
)

// exposed returns the names of every series the box can expose: a
// snapshot with every part present, histograms with their suffixes.
func exposed(t *testing.T) map[string]bool {
	t.Helper()
	var st pipeline.InspectStats
	st.NewSIPCounts()
	now := time.Now()
	snap := Snapshot{Inspection: &st, Sets: map[string]int{"dynamic": 1}, Dropped: map[string]uint64{"dynamic": 1},
		Notify:  []Channel{{Name: "mail", Enabled: true, LastSent: now, LastErrorAt: now}},
		Feeds:   []Source{{Name: "voipbl", Enabled: true, LastSuccess: now}},
		GeoIP:   &GeoIP{Built: now, LastSuccess: now},
		HasLEDs: true,
		Health:  []Health{{Component: "syslog", LastSuccess: now}}}
	m, err := New(Options{Snapshot: func() Snapshot { return snap }})
	if err != nil {
		t.Fatal(err)
	}
	m.Applied(&sip.Event{Action: sip.Ban, Reason: sip.ReasonScanner, Time: now}, now)
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	return names
}

var metricName = regexp.MustCompile(`\b(sipguard|go|process)_[a-z0-9_]+`)

// The Grafana dashboard is valid JSON, and every query names metrics the
// box exposes.
func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "grafana", "sipguard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if dash.Title == "" || len(dash.Panels) < 10 {
		t.Fatalf("title %q, %d panels", dash.Title, len(dash.Panels))
	}
	names := exposed(t)
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			found := metricName.FindAllString(q.Expr, -1)
			if len(found) == 0 {
				t.Errorf("panel %q: %q names no metric", p.Title, q.Expr)
			}
			for _, n := range found {
				if !names[n] {
					t.Errorf("panel %q: %s is not a metric the box exposes", p.Title, n)
				}
			}
		}
	}
}

// docs/metrics.md names every metric of the box, and only those.
func TestMetricsDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	names := exposed(t)
	for n := range names {
		if strings.HasPrefix(n, "sipguard_") && !strings.HasSuffix(n, "_bucket") && !strings.HasSuffix(n, "_sum") && !strings.HasSuffix(n, "_count") &&
			!strings.Contains(doc, "`"+n+"`") {
			t.Errorf("%s is not in docs/metrics.md", n)
		}
	}
	for _, n := range metricName.FindAllString(doc, -1) {
		if strings.HasPrefix(n, "sipguard_") && !names[n] && !strings.HasSuffix(n, "_") {
			t.Errorf("docs/metrics.md names %s, which the box does not expose", n)
		}
	}
}
