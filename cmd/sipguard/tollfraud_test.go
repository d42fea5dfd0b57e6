package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// startCarrier runs sipp as the carrier's SIP server (its built-in UAS
// scenario, at most 20 calls, for at most a minute) on the wan host, and
// returns the file it logs each message it receives in.
func startCarrier(t *testing.T, lab *netlab.Lab) (messages string) {
	t.Helper()
	sipp := netlab.RequireTool(t, "sipp")
	dir := t.TempDir()
	messages = filepath.Join(dir, "carrier.log")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := lab.WAN.Command(ctx, sipp, "-sn", "uas", "-i", netlab.Carrier4.String(), "-p", "5060", "-m", "20", "-nostdin",
		"-trace_msg", "-message_file", messages)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = netlab.Stop(cmd, 2*time.Second)
		cancel()
	})
	return messages
}

// outboundCall has the PBX call number from extension ext through the
// carrier with sipp (one call, an answer awaited at most 3 s), and reports
// whether the call went through: answered, acknowledged and hung up.
func outboundCall(t *testing.T, lab *netlab.Lab, ext, number string) bool {
	t.Helper()
	sipp := netlab.RequireTool(t, "sipp")
	scenario, err := filepath.Abs(filepath.Join("..", "..", "testdata", "sipp", "outbound_call.xml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := lab.PBX.Command(ctx, sipp, "-sf", scenario, "-s", number, "-key", "ext", ext, "-i", netlab.PBX4.String(),
		"-m", "1", "-recv_timeout", "3000", "-nostdin", netip.AddrPortFrom(netlab.Carrier4, 5060).String())
	cmd.Dir = t.TempDir()
	err = cmd.Run()
	if _, failed := err.(*exec.ExitError); err != nil && !failed {
		t.Fatal(err)
	}
	return err == nil
}

// The office's calls to a high-risk destination raise a toll-fraud alert
// that names the extension and the number; a call to a blocked prefix
// never reaches the carrier (and is alerted on all the same), ordinary
// calls go through; the report shows the outbound calls per extension.
func TestTollFraudAlertAndBlock(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	dir := t.TempDir()
	sock, state, cfg := filepath.Join(dir, "api.sock"), filepath.Join(dir, "state.db"), filepath.Join(dir, "sipguard.toml")
	if err := os.WriteFile(cfg, []byte("[tollfraud]\nblock = [\"+883\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, log, stop := launchDaemon(t, lab, bin, "--config", cfg, "--api", sock, "--state", state)
	carrier := startCarrier(t, lab)

	if !outboundCall(t, lab, "201", "+3312345") {
		t.Fatal("an ordinary call did not go through")
	}
	if !outboundCall(t, lab, "201", "+88212345") {
		t.Error("a high-risk call that is not blocked did not go through")
	}
	if outboundCall(t, lab, "202", "+88312345") {
		t.Error("a call to a blocked prefix went through")
	}
	if !outboundCall(t, lab, "203", "+4420712345") {
		t.Error("an ordinary call after the blocked one did not go through")
	}

	received, err := os.ReadFile(carrier)
	if err != nil {
		t.Fatal(err)
	}
	for number, want := range map[string]bool{"+3312345": true, "+88212345": true, "+88312345": false, "+4420712345": true} {
		if got := strings.Contains(string(received), "INVITE sip:"+number+"@"); got != want {
			t.Errorf("the carrier received the INVITE to %s: %v, want %v", number, got, want)
		}
	}
	var st api.Status
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Counters["toll_blocked"] == 0 {
		t.Errorf("toll_blocked counter: %v", st.Counters)
	}
	if st.Inspection["outbound_calls"] != 4 || st.Inspection["toll_alerts"] != 2 {
		t.Errorf("the watch counted %d calls and %d alerts, want 4 and 2", st.Inspection["outbound_calls"], st.Inspection["toll_alerts"])
	}

	// The alerts: one for each extension that called a high-risk or blocked
	// number, none for the ordinary calls.
	alerted := func(ext, number string) bool {
		for line := range strings.SplitSeq(log.String(), "\n") {
			if strings.Contains(line, "outbound calls to high-risk destinations") && strings.Contains(line, "extension="+ext+" ") &&
				strings.Contains(line, "dialled="+number+" ") {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for !(alerted("201", "+88212345") && alerted("202", "+88312345")) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !alerted("201", "+88212345") || !alerted("202", "+88312345") {
		t.Errorf("no toll-fraud alert naming 201 and +88212345, and 202 and +88312345:\n%s", log.String())
	}
	if alerted("203", "+4420712345") || strings.Contains(log.String(), "extension=203") {
		t.Errorf("an ordinary call raised an alert:\n%s", log.String())
	}

	report := sipguard(t, lab, bin, "--api", sock, "report")
	if !strings.Contains(report, "Outbound calls") {
		t.Errorf("the report has no outbound calls:\n%s", report)
	}
	var r api.Report
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "report", "--json")), &r); err != nil {
		t.Fatal(err)
	}
	got := map[string]api.OutboundCalls{}
	for _, o := range r.Outbound {
		got[o.Extension] = o
	}
	if o := got["201"]; o.Calls != 2 || o.HighRisk != 1 || o.LastDialled != "+88212345" {
		t.Errorf("201's outbound calls: %+v", o)
	}
	if o := got["202"]; o.Calls != 1 || o.HighRisk != 1 || o.LastDialled != "+88312345" {
		t.Errorf("202's outbound calls (its INVITE sent again and again counts once): %+v", o)
	}
	if o := got["203"]; o.Calls != 1 || o.HighRisk != 0 {
		t.Errorf("203's outbound calls: %+v", o)
	}
	if r.Alerts < 2 || r.Attacks["outbound calls to high-risk destinations"] < 2 {
		t.Errorf("the attack log lacks the alerts: %+v", r)
	}
	for _, o := range r.Outbound {
		if !strings.Contains(report, "| "+o.Extension+" ") {
			t.Errorf("the report lacks the line of %s:\n%s", o.Extension, report)
		}
	}

	// A prefix blocked live, through the configuration, stops the next
	// call at once; a bad one is refused and changes nothing.
	if out, err := lab.Box.Output(context.Background(), bin, "--api", sock, "config", "set", "tollfraud.block", "+883,sip:44"); err == nil ||
		!strings.Contains(err.Error()+string(out), "tollfraud.block[1]") {
		t.Errorf("a bad block: %v\n%s", err, out)
	}
	if !outboundCall(t, lab, "203", "+4420712345") {
		t.Error("a refused block changed the rules")
	}
	if out := sipguard(t, lab, bin, "--api", sock, "config", "set", "tollfraud.block", "+883,+44"); !strings.Contains(out, "written and applied") {
		t.Errorf("config set tollfraud.block: %s", out)
	}
	if outboundCall(t, lab, "203", "+4420712345") {
		t.Error("a call to a prefix blocked live went through")
	}
	stop()
}

// Calls outside office hours over a third of the budget raise their own
// alert. The office hours are set to a day three days off, so that the
// test's calls are all outside them, whenever it runs.
func TestTollFraudOffHours(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	cfg := filepath.Join(t.TempDir(), "sipguard.toml")
	day := []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}[(int(time.Now().UTC().Weekday())+3)%7]
	if err := os.WriteFile(cfg, []byte("[tollfraud]\ncalls_per_hour = 3\noffice_hours = \""+day+" 08:00-18:00\"\ntimezone = \"UTC\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, log, stop := launchDaemon(t, lab, bin, "--config", cfg)
	startCarrier(t, lab)
	for i, number := range []string{"+3312345", "+3312346"} {
		if !outboundCall(t, lab, "301", number) {
			t.Fatalf("call %d did not go through", i+1)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), "outbound calls outside office hours") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	var line string
	for l := range strings.SplitSeq(log.String(), "\n") {
		if strings.Contains(l, "outbound calls outside office hours") {
			line = l
		}
	}
	// A limit of 3/3 = 1 off-hours call an hour: the second alerts.
	if !strings.Contains(line, "extension=301 ") || !strings.Contains(line, "dialled=+3312346 ") || !strings.Contains(line, "count=2 ") {
		t.Errorf("no off-hours alert naming 301, +3312346 and a count of 2:\n%s", log.String())
	}
	if strings.Contains(log.String(), "high-risk destinations") {
		t.Errorf("ordinary calls within the budget raised a toll-fraud alert:\n%s", log.String())
	}
	stop()
}
