package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// lapiAddr is where the lab's CrowdSec local API listens: an internet
// host, on the wan host, as an installer's LAPI is reached from the boxes
// of his sites.
var lapiAddr = netip.MustParseAddr("198.51.100.50")

// lapi is a CrowdSec local API run in a lab's wan host.
type lapi struct {
	t    *testing.T
	lab  *netlab.Lab
	conf string
	url  string
	stop func() // stops the local API
}

// startLAPI runs Debian's crowdsec as a local API alone (-no-cs) in the
// lab's wan host, with its own configuration and database in a folder of
// the test, until the test ends.
func startLAPI(t *testing.T, lab *netlab.Lab) *lapi {
	t.Helper()
	bin := netlab.RequireTool(t, "crowdsec")
	netlab.RequireTool(t, "cscli")
	dir := t.TempDir()
	for _, d := range []string{"data", "hub", "notifications"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"config.yaml": fmt.Sprintf(`common:
  daemonize: false
  log_media: stdout
  log_level: info
  working_dir: .
config_paths:
  config_dir: %[1]s/
  data_dir: %[1]s/data/
  simulation_path: %[1]s/simulation.yaml
  hub_dir: %[1]s/hub/
  index_path: %[1]s/hub/.index.json
  notification_dir: %[1]s/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
db_config:
  type: sqlite
  db_path: %[1]s/data/crowdsec.db
  use_wal: false
api:
  client:
    credentials_path: %[1]s/local_api_credentials.yaml
  server:
    listen_uri: %[2]s:8080
    profiles_path: %[1]s/profiles.yaml
    trusted_ips: [127.0.0.1]
prometheus:
  enabled: false
`, dir, lapiAddr),
		"simulation.yaml": "simulation: off\n",
		"profiles.yaml": `name: default_ip_remediation
filters:
 - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
 - type: ban
   duration: 4h
on_success: break
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := netlab.IP(context.Background(), "-n", lab.WAN.Name, "addr", "add", lapiAddr.String()+"/32", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	l := &lapi{t: t, lab: lab, conf: filepath.Join(dir, "config.yaml"), url: "http://" + lapiAddr.String() + ":8080/"}
	// cscli's own machine, for decisions add and list.
	l.cscli("machines", "add", "cscli", "--auto", "-f", filepath.Join(dir, "local_api_credentials.yaml"))

	log := &netlab.Buffer{}
	cmd := lab.WAN.Command(context.Background(), bin, "-c", l.conf, "-no-cs")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	l.stop = func() {
		if !stopped {
			stopped = true
			_ = netlab.Stop(cmd, 10*time.Second)
		}
	}
	t.Cleanup(func() {
		l.stop()
		if t.Failed() {
			t.Logf("crowdsec log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !l.listening() {
		if time.Now().After(deadline) {
			t.Fatalf("the local API is not listening after 20s:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return l
}

func (l *lapi) listening() bool {
	err := l.lab.WAN.Do(func() error {
		c, err := net.DialTimeout("tcp", lapiAddr.String()+":8080", time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	return err == nil
}

// cscli runs cscli on the local API's configuration, in the wan host.
func (l *lapi) cscli(args ...string) string {
	l.t.Helper()
	out, err := l.lab.WAN.Output(context.Background(), "cscli", append([]string{"-c", l.conf}, args...)...)
	if err != nil {
		l.t.Fatalf("cscli %v: %v", args, err)
	}
	return string(out)
}

// bouncer creates a bouncer and returns its key.
func (l *lapi) bouncer(name string) string {
	l.t.Helper()
	key := strings.Repeat(name, 1+32/len(name))[:32]
	l.cscli("bouncers", "add", name, "-k", key)
	return key
}

// machine creates a machine with a password and returns it.
func (l *lapi) machine(name string) string {
	l.t.Helper()
	password := "pw-" + strings.Repeat(name, 1+32/len(name))[:32]
	l.cscli("machines", "add", name, "--password", password, "-f", os.DevNull)
	return password
}

// decisions lists the decisions of the local API on source, from every
// origin.
func (l *lapi) decisions(source netip.Addr) []string {
	l.t.Helper()
	var alerts []struct {
		MachineID string `json:"machine_id"`
		Scenario  string `json:"scenario"`
		Decisions []struct {
			Value, Origin, Scenario, Duration string
		} `json:"decisions"`
	}
	out := l.cscli("decisions", "list", "-a", "-o", "json")
	if err := json.Unmarshal([]byte(out), &alerts); err != nil && strings.TrimSpace(out) != "null" {
		l.t.Fatalf("cscli decisions list: %v\n%s", err, out)
	}
	var found []string
	for _, a := range alerts {
		for _, d := range a.Decisions {
			if d.Value == source.String() {
				found = append(found, a.MachineID+" "+d.Scenario+" "+d.Origin)
			}
		}
	}
	return found
}

// boxConfig writes a box's configuration: its management address, and
// the [crowdsec] section.
func boxConfig(t *testing.T, mgmt, gateway netip.Addr, section string) string {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "sipguard.toml")
	text := fmt.Sprintf("[management]\naddresses = [%q]\ngateway4 = %q\n\n[crowdsec]\n%s", netip.PrefixFrom(mgmt, 24).String(), gateway.String(), section)
	if mgmt == netlab.SiteBoxMgmt4 {
		text = strings.Replace(text, "/24", "/25", 1)
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

// udpReaches says whether a UDP datagram from src, on the wan host,
// reaches dst's SIP port on pbx.
func udpReaches(t *testing.T, wan, pbx *netlab.NS, src, dst netip.Addr) bool {
	t.Helper()
	ok, err := netlab.UDPReaches(wan, pbx, src, netip.AddrPortFrom(dst, 5060), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// waitUntil polls cond for up to limit and returns how long it took.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

func crowdSecStatus(t *testing.T, lab *netlab.Lab, bin, sock string) crowdsec.Status {
	t.Helper()
	var st crowdsec.Status
	if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "crowdsec", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// A decision added with cscli on the local API is dropped by the box's
// kernel within seconds, unless the source is allowlisted; withdrawn, it
// lets the source through again. The box reaches the LAPI from its
// management address, across the modem, as an installer's would.
func TestCrowdSecBouncer(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	api := startLAPI(t, lab)
	key := api.bouncer("sipguard-site1")
	conf := boxConfig(t, netlab.BoxMgmt4, netlab.Gateway4, fmt.Sprintf("mode = \"bouncer\"\nurl = %q\nbouncer_key = %q\npoll = \"1s\"\n", api.url, key))
	sock := filepath.Join(t.TempDir(), "api.sock")
	startDaemon(t, lab, bin, "--api", sock, "--config", conf, "--allow", netlab.Attacker4.String())
	waitUntil(t, 15*time.Second, "the bouncer's first pull", func() bool {
		st := crowdSecStatus(t, lab, bin, sock)
		return st.Bouncer != nil && st.Bouncer.State == crowdsec.StateOK
	})
	if !udpReaches(t, lab.WAN, lab.PBX, netlab.Other4, netlab.PBX4) {
		t.Fatal("a source without a decision was dropped")
	}

	api.cscli("decisions", "add", "--ip", netlab.Other4.String(), "--duration", "1h")
	api.cscli("decisions", "add", "--ip", netlab.Attacker4.String(), "--duration", "1h") // allowlisted on the box
	api.cscli("decisions", "add", "--range", "2001:db8:bad::/48", "--duration", "30m")
	took := waitUntil(t, 15*time.Second, "a cscli decision dropped by the box", func() bool {
		return !udpReaches(t, lab.WAN, lab.PBX, netlab.Other4, netlab.PBX4)
	})
	t.Logf("a decision added with cscli was dropped by the box %v later (poll 1s)", took.Round(100*time.Millisecond))
	if !udpReaches(t, lab.WAN, lab.PBX, netlab.Attacker4, netlab.PBX4) {
		t.Error("an allowlisted source was dropped: the allowlist must win over CrowdSec")
	}
	if udpReaches(t, lab.WAN, lab.PBX, netlab.Other6, netlab.PBX6) {
		t.Error("a source in a Range decision (IPv6) reached the PBX")
	}
	if !udpReaches(t, lab.WAN, lab.PBX, netlab.Carrier4, netlab.PBX4) {
		t.Error("a source without a decision was dropped")
	}
	st := crowdSecStatus(t, lab, bin, sock)
	if st.Bouncer == nil || st.Bouncer.Decisions != 3 || st.Bouncer.V4 != 2 || st.Bouncer.V6 != 1 {
		t.Errorf("crowdsec status: %+v", st.Bouncer)
	}
	if out := sipguard(t, lab, bin, "--api", sock, "status"); !strings.Contains(out, "CrowdSec: bouncer, "+api.url+"; bouncer ok, 3 decisions") ||
		!strings.Contains(out, "| CrowdSec (ranges)   |          3 |") {
		t.Errorf("status:\n%s", out)
	}

	if up := sample(scrapeMetrics(t, sock), "sipguard_component_up", map[string]string{"component": "crowdsec_bouncer"}); up != 1 {
		t.Errorf("metrics: the bouncer up = %v, want 1", up)
	}

	api.cscli("decisions", "delete", "--ip", netlab.Other4.String())
	waitUntil(t, 15*time.Second, "a deleted decision lifted", func() bool {
		return udpReaches(t, lab.WAN, lab.PBX, netlab.Other4, netlab.PBX4)
	})

	// The LAPI stops: the decisions in force stay, the state says so.
	api.stop()
	waitUntil(t, 15*time.Second, "the bouncer to see the LAPI down", func() bool {
		st := crowdSecStatus(t, lab, bin, sock)
		return st.Bouncer != nil && st.Bouncer.State == crowdsec.StateDown && st.Bouncer.LastError != ""
	})
	if udpReaches(t, lab.WAN, lab.PBX, netlab.Other6, netlab.PBX6) {
		t.Error("with the LAPI down, a decision in force was lifted")
	}
	fams := scrapeMetrics(t, sock)
	if up, errs := sample(fams, "sipguard_component_up", map[string]string{"component": "crowdsec_bouncer"}),
		sample(fams, "sipguard_component_errors_total", map[string]string{"component": "crowdsec_bouncer"}); up != 0 || errs < 1 {
		t.Errorf("metrics with the LAPI down: the bouncer up = %v, errors = %v", up, errs)
	}

	// Switched off, live: the decisions leave the kernel.
	sipguard(t, lab, bin, "--api", sock, "config", "set", "crowdsec.mode", "off")
	if st := crowdSecStatus(t, lab, bin, sock); st.Mode != crowdsec.ModeOff || st.Bouncer != nil {
		t.Errorf("after crowdsec.mode off: %+v", st)
	}
	if !udpReaches(t, lab.WAN, lab.PBX, netlab.Other6, netlab.PBX6) {
		t.Error("with crowdsec off, a decision still drops its source")
	}
}

// An attack on box A becomes a decision in the local API, and box B, at
// another site, drops the attacker within seconds.
func TestCrowdSecFleet(t *testing.T) {
	lab := netlab.NewT(t)
	site := netlab.AddSiteT(t, lab)
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	api := startLAPI(t, lab)
	keyA, keyB := api.bouncer("sipguard-site-a"), api.bouncer("sipguard-site-b")
	password := api.machine("sipguard-site-a")

	confA := boxConfig(t, netlab.BoxMgmt4, netlab.Gateway4, fmt.Sprintf("mode = \"both\"\nurl = %q\nbouncer_key = %q\nmachine_id = \"sipguard-site-a\"\nmachine_password = %q\npoll = \"1s\"\n", api.url, keyA, password))
	confB := boxConfig(t, netlab.SiteBoxMgmt4, netlab.SiteGateway4, fmt.Sprintf("mode = \"bouncer\"\nurl = %q\nbouncer_key = %q\npoll = \"1s\"\n", api.url, keyB))
	sockA, sockB := filepath.Join(t.TempDir(), "a.sock"), filepath.Join(t.TempDir(), "b.sock")
	startDaemon(t, lab, bin, "--api", sockA, "--config", confA)
	startDaemon(t, site.Lab, bin, "--api", sockB, "--config", confB)
	for _, b := range []struct {
		lab  *netlab.Lab
		sock string
	}{{lab, sockA}, {site.Lab, sockB}} {
		waitUntil(t, 15*time.Second, "the bouncers' first pull", func() bool {
			st := crowdSecStatus(t, b.lab, bin, b.sock)
			return st.Bouncer != nil && st.Bouncer.State == crowdsec.StateOK
		})
	}
	if !udpReaches(t, lab.WAN, site.PBX, netlab.Attacker4, netlab.SitePBX4) {
		t.Fatal("before the attack, the attacker does not reach site B's PBX")
	}

	attack(t, lab, "svwar", "-e", "100-120", "-b", netlab.Attacker4.String(), "--maximumtime", "5", netlab.PBX4.String())
	if bans := sipguard(t, lab, bin, "--api", sockA, "bans"); !strings.Contains(bans, netlab.Attacker4.String()+"/32") {
		t.Fatalf("box A did not ban the scanner:\n%s", bans)
	}
	banned := time.Now() // svwar ran its course: box A banned it at its first packet
	waitUntil(t, 15*time.Second, "box A's ban as a decision of the LAPI", func() bool { return len(api.decisions(netlab.Attacker4)) > 0 })
	if d := api.decisions(netlab.Attacker4); !strings.Contains(d[0], "sipguard-site-a sipguard/sip-scanner sipguard") {
		t.Errorf("decision %v, want box A's machine, the scanner scenario, origin sipguard", d)
	}
	waitUntil(t, 15*time.Second, "box B dropping box A's attacker", func() bool {
		return !udpReaches(t, lab.WAN, site.PBX, netlab.Attacker4, netlab.SitePBX4)
	})
	t.Logf("box B dropped the attacker %v after svwar ended on box A (agent batch window 2s, poll 1s)", time.Since(banned).Round(100*time.Millisecond))
	if !udpReaches(t, lab.WAN, site.PBX, netlab.Carrier4, netlab.SitePBX4) {
		t.Error("box B dropped a source without a decision")
	}
	stA := crowdSecStatus(t, lab, bin, sockA)
	if stA.Agent == nil || stA.Agent.Sent == 0 || stA.Agent.State != crowdsec.StateOK {
		t.Errorf("box A's agent: %+v", stA.Agent)
	}
	// Box A's bouncer pulls its own decision back: banned again on box A,
	// the attacker is not pushed again.
	waitUntil(t, 15*time.Second, "box A pulling its own decision back", func() bool {
		st := crowdSecStatus(t, lab, bin, sockA)
		return st.Bouncer != nil && st.Bouncer.Decisions == 1
	})
	sipguard(t, lab, bin, "--api", sockA, "unban", netlab.Attacker4.String())
	attack(t, lab, "svwar", "-e", "100-120", "-b", netlab.Attacker4.String(), "--maximumtime", "3", netlab.PBX4.String())
	waitUntil(t, 15*time.Second, "box A banning the attacker again", func() bool {
		return strings.Contains(sipguard(t, lab, bin, "--api", sockA, "bans"), netlab.Attacker4.String()+"/32")
	})
	waitUntil(t, 15*time.Second, "box A's agent to pass over the echo", func() bool {
		st := crowdSecStatus(t, lab, bin, sockA)
		return st.Agent != nil && st.Agent.Echoes > 0
	})
	time.Sleep(3 * time.Second) // a batch window and more
	if n := len(api.decisions(netlab.Attacker4)); n != 1 {
		t.Errorf("%d decisions on the attacker, want box A's first one alone", n)
	}
}
