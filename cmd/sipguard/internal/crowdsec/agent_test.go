package crowdsec

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/sip"
)

func newTestAgent(t *testing.T, f *fakeLAPI, o AgentOptions) (*Agent, context.CancelFunc) {
	t.Helper()
	s := Settings{Mode: ModeAgent, URL: f.URL, MachineID: testMachine, MachinePassword: testPassword}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := NewAgent(s, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return a, cancel
}

func banEvent(i int) Event {
	a := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
	return Event{Time: time.Now(), Action: "ban", Source: netip.PrefixFrom(a, 32), Addr: a, Reason: sip.ReasonRegisterBruteForce.String(),
		Duration: time.Hour, UserAgent: "friendly-scanner", Extension: fmt.Sprint(100 + i), Country: "ZZ"}
}

// waitFor polls cond until it holds, for a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Bans go out in batches of at most 50, each an alert with its decision
// and its meta; the rest follow within the batch window.
func TestAgentBatches(t *testing.T) {
	f := newFakeLAPI(t)
	a, _ := newTestAgent(t, f, AgentOptions{})
	for i := range 120 {
		a.Push(banEvent(i))
	}
	waitFor(t, "120 alerts", func() bool { return a.Status().Sent == 120 })
	batches := f.pushed()
	total := 0
	for _, b := range batches {
		if len(b) > batchSize {
			t.Errorf("a batch of %d alerts", len(b))
		}
		total += len(b)
	}
	if total != 120 || len(batches) < 3 {
		t.Errorf("%d alerts in %d batches", total, len(batches))
	}
	if f.logins != 1 {
		t.Errorf("%d logins; the token is kept while it lasts", f.logins)
	}
	al := batches[0][0]
	if al.Scenario != "sipguard/sip-bruteforce" || al.Source.Value != "203.0.113.0" || al.Source.Scope != "Ip" || al.Source.CN != "ZZ" {
		t.Errorf("alert = %+v", al)
	}
	if len(al.Decisions) != 1 || al.Decisions[0].Duration != "1h0m0s" || al.Decisions[0].Type != "ban" || al.Decisions[0].Value != "203.0.113.0" {
		t.Errorf("decisions = %+v", al.Decisions)
	}
	got := map[string]string{}
	for _, m := range al.Meta {
		got[m.Key] = m.Value
	}
	if got["country"] != "ZZ" || got["user_agent"] != "friendly-scanner" || got["extension"] != "100" || got["reason"] != sip.ReasonRegisterBruteForce.String() {
		t.Errorf("meta = %v", got)
	}
	if st := a.Status(); st.State != StateOK || st.Queued != 0 || st.Dropped != 0 {
		t.Errorf("status = %+v", st)
	}
}

// While the LAPI is down the alerts queue, bounded, the oldest dropped
// first; once it is back they go out.
func TestAgentQueueBound(t *testing.T) {
	f := newFakeLAPI(t)
	f.setDown(true)
	a, _ := newTestAgent(t, f, AgentOptions{MaxQueue: 10})
	for i := range 25 {
		a.Push(banEvent(i))
	}
	waitFor(t, "the queue to fill", func() bool { st := a.Status(); return st.Queued == 10 && st.Dropped == 15 })
	waitFor(t, "a failed push", func() bool { return a.Status().State == StateDown })
	if st := a.Status(); st.LastError == "" || st.Failures == 0 || st.NextTry.IsZero() {
		t.Errorf("status while down = %+v", st)
	}
	f.setDown(false)
	waitFor(t, "the queue to empty", func() bool { return a.Status().Sent == 10 })
	var sources []string
	for _, b := range f.pushed() {
		for _, al := range b {
			sources = append(sources, al.Source.Value)
		}
	}
	if len(sources) != 10 || sources[0] != "203.0.113.15" || sources[9] != "203.0.113.24" {
		t.Errorf("sent %v, want the newest ten", sources)
	}
}

// A ban of a source a LAPI decision already covers is not pushed back;
// events about the office's own calls are not pushed at all; an alert
// without a ban goes without a decision.
func TestAgentNoEcho(t *testing.T) {
	f := newFakeLAPI(t)
	fromFleet := netip.MustParseAddr("203.0.113.5")
	a, _ := newTestAgent(t, f, AgentOptions{Covered: func(x netip.Addr) bool { return x == fromFleet }})
	a.Push(banEvent(5))
	toll := banEvent(6)
	toll.Reason, toll.Action, toll.Duration = sip.ReasonTollFraud.String(), "alert", 0
	a.Push(toll)
	alertOnly := banEvent(7)
	alertOnly.Reason, alertOnly.Action, alertOnly.Duration = sip.ReasonHijack.String(), "alert", 0
	a.Push(alertOnly)
	net := banEvent(8)
	net.Source, net.Reason = netip.MustParsePrefix("203.0.113.0/24"), sip.ReasonNetworkGuessing.String()
	a.Push(net)
	waitFor(t, "two alerts", func() bool { return a.Status().Sent == 2 })
	st := a.Status()
	if st.Echoes != 1 || st.Skipped != 1 {
		t.Errorf("status = %+v, want one echo and one skipped", st)
	}
	var got []alert
	for _, b := range f.pushed() {
		got = append(got, b...)
	}
	if len(got) != 2 {
		t.Fatalf("pushed %d alerts", len(got))
	}
	if got[0].Scenario != "sipguard/sip-hijack" || len(got[0].Decisions) != 0 || got[0].Remediation {
		t.Errorf("an alert without a ban = %+v", got[0])
	}
	if got[1].Source.Scope != "Range" || got[1].Source.Value != "203.0.113.0/24" || len(got[1].Decisions) != 1 || got[1].Decisions[0].Scope != "Range" {
		t.Errorf("a network ban = %+v", got[1])
	}
}

// A token the LAPI no longer takes is renewed with one more login, and
// the alert goes all the same.
func TestAgentLoginAgain(t *testing.T) {
	f := newFakeLAPI(t)
	a, _ := newTestAgent(t, f, AgentOptions{})
	a.Push(banEvent(1))
	waitFor(t, "the first alert", func() bool { return a.Status().Sent == 1 })
	f.revoke()
	a.Push(banEvent(2))
	waitFor(t, "the second alert", func() bool { return a.Status().Sent == 2 })
	if st := a.Status(); st.Failures != 0 || st.LastError != "" {
		t.Errorf("status = %+v: a renewed token is no failure", st)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logins != 2 {
		t.Errorf("%d logins, want 2", f.logins)
	}
}

// A machine the LAPI does not know is a failure the status shows.
func TestAgentBadPassword(t *testing.T) {
	f := newFakeLAPI(t)
	a, err := NewAgent(Settings{Mode: ModeAgent, URL: f.URL, MachineID: testMachine, MachinePassword: "wrong"}, AgentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	a.Push(banEvent(1))
	waitFor(t, "a failed login", func() bool { return a.Status().State == StateDown })
	if st := a.Status(); !strings.Contains(st.LastError, "machine login") || st.Queued != 1 {
		t.Errorf("status = %+v", st)
	}
}

// Push never blocks, whatever the Agent's state.
func TestAgentPushNeverBlocks(t *testing.T) {
	f := newFakeLAPI(t)
	a, err := NewAgent(Settings{Mode: ModeAgent, URL: f.URL, MachineID: testMachine, MachinePassword: testPassword}, AgentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range inbox + 100 { // not running: the inbox fills
		a.Push(banEvent(i))
	}
	if st := a.Status(); st.Dropped != 100 {
		t.Errorf("dropped %d, want 100", st.Dropped)
	}
}

// BenchmarkPush is what detection pays per event.
func BenchmarkPush(b *testing.B) {
	a, err := NewAgent(Settings{Mode: ModeAgent, URL: "http://192.0.2.1/", MachineID: "m", MachinePassword: "p"}, AgentOptions{})
	if err != nil {
		b.Fatal(err)
	}
	e := banEvent(1)
	b.ReportAllocs()
	for b.Loop() {
		select {
		case <-a.in:
		default:
		}
		a.Push(e)
	}
}
