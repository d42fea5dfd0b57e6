package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// metricsBackend exposes a fixed exposition.
type metricsBackend struct{ fakeBackend }

func (metricsBackend) Metrics() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("sipguard_frames_inspected_total 3\n"))
	})
}

// GET /v1/metrics serves the backend's metrics, and says so clearly when
// it has none.
func TestMetrics(t *testing.T) {
	text, err := serve(t, &metricsBackend{}).Metrics(context.Background())
	if err != nil || string(text) != "sipguard_frames_inspected_total 3\n" {
		t.Errorf("metrics: %q, %v", text, err)
	}
	_, err = serve(t, &fakeBackend{}).Metrics(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no metrics") {
		t.Errorf("without metrics: %v, want an error saying so", err)
	}
}
