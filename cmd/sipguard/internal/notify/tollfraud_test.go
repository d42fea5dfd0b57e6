package notify

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// A toll-fraud alert's message names the extension and the number it
// dialled.
func TestAlertNamesTheNumberDialled(t *testing.T) {
	at := time.Date(2026, 11, 24, 3, 4, 5, 0, time.UTC)
	ev := store.Event{Time: at, Action: store.ActionAlert, Source: netip.MustParsePrefix("192.0.2.10/32"),
		Reason: "outbound calls to high-risk destinations", Count: 1, Extension: "201", Dialled: "+88212345"}
	a := AlertBatch{From: at, To: at, Events: []store.Event{ev}}
	if text := a.Text("box"); !strings.Contains(text, "201 → +88212345") {
		t.Errorf("the alert does not name the number:\n%s", text)
	}
	ev.Dialled = ""
	a.Events[0] = ev
	if text := a.Text("box"); strings.Contains(text, "→") || !strings.Contains(text, " 201\n") {
		t.Errorf("an alert without a number:\n%s", text)
	}
}
