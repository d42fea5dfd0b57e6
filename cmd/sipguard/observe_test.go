package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc5424"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// scrapeMetrics reads the daemon's metrics through its API socket and
// parses the text exposition.
func scrapeMetrics(t *testing.T, sock string) map[string]*dto.MetricFamily {
	t.Helper()
	text, err := api.Client{Socket: sock}.Metrics(context.Background())
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("parse the exposition: %v\n%s", err, text)
	}
	return fams
}

// sample sums the series of a family whose labels include want: counter
// and gauge values, a histogram's count.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	sum := 0.0
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.Metric {
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				found = found || l.GetName() == k && l.GetValue() == v
			}
			if !found {
				continue next
			}
		}
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return sum
}

// syslogReader returns the RFC 5424 messages a listener in the box's own
// loopback receives, over UDP or TCP (octet counting), one at a time.
func syslogReader(t *testing.T, lab *netlab.Lab, scheme string) (address string, next func(time.Duration) ([]byte, error)) {
	t.Helper()
	ln, err := lab.Box.ListenLocal(t.Context()) // also brings the loopback up
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if scheme == "udp" {
		pc, err := lab.Box.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		return "udp://" + pc.LocalAddr().String(), func(d time.Duration) ([]byte, error) {
			buf := make([]byte, 64<<10)
			_ = pc.SetReadDeadline(time.Now().Add(d))
			n, err := pc.Read(buf)
			return buf[:n], err
		}
	}
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			conns <- c
		}
	}()
	var (
		conn net.Conn
		r    *bufio.Reader
	)
	return "tcp://" + ln.Addr().String(), func(d time.Duration) ([]byte, error) {
		deadline := time.Now().Add(d)
		if conn == nil {
			select {
			case conn = <-conns:
				r = bufio.NewReader(conn)
			case <-time.After(d):
				return nil, fmt.Errorf("no connection within %v", d)
			}
		}
		_ = conn.SetReadDeadline(deadline)
		field, err := r.ReadString(' ')
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(strings.TrimSuffix(field, " "))
		if err != nil {
			return nil, fmt.Errorf("octet count %q: %v", field, err)
		}
		msg := make([]byte, n)
		_, err = io.ReadFull(r, msg)
		return msg, err
	}
}

// A real password-guessing attack moves the metrics scraped from the API
// socket (REGISTERs, bans by reason, the time to ban), and its ban
// reaches a remote syslog listener over UDP and over TCP as RFC 5424.
func TestMetricsAndSyslogOfAnAttack(t *testing.T) {
	for _, scheme := range []string{"udp", "tcp"} {
		t.Run(scheme, func(t *testing.T) {
			lab := netlab.NewT(t)
			bin := buildSipguard(t)
			reg := startRegistrar(t, lab)
			addr, next := syslogReader(t, lab, scheme)
			dir := t.TempDir()
			sock, cfg := filepath.Join(dir, "api.sock"), filepath.Join(dir, "sipguard.toml")
			conf := fmt.Sprintf("[syslog]\naddress = %q\nfacility = \"local3\"\nhostname = \"box-test\"\n", addr)
			if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			stop := startDaemon(t, lab, bin, "--config", cfg, "--api", sock, "--state", filepath.Join(dir, "state.db"),
				"--scanner-agents", "none", "--register-limit", "5")
			before := scrapeMetrics(t, sock)
			if v := sample(before, "sipguard_build_info", nil); v != 1 {
				t.Errorf("sipguard_build_info = %v, want 1", v)
			}
			regs0 := sample(before, "sipguard_sip_requests_total", map[string]string{"method": "REGISTER"})
			if n := sample(before, "sipguard_bans_total", nil) + sample(before, "sipguard_time_to_ban_seconds", nil); n != 0 {
				t.Errorf("bans before the attack: %v", n)
			}

			attack(t, lab, "svcrack", "-u", "1001", "-d", wrongPasswords(t, 40), "-b", netlab.Attacker4.String(), "--maximumtime", "3", netlab.PBX4.String())
			_, guesses := reg.Requests("REGISTER", netlab.Attacker4)

			after := scrapeMetrics(t, sock)
			regs := sample(after, "sipguard_sip_requests_total", map[string]string{"method": "REGISTER"}) - regs0
			// The counters lag by up to a few hundred frames per worker:
			// wait for the inspection to flush them.
			for end := time.Now().Add(5 * time.Second); regs < float64(guesses) && time.Now().Before(end); {
				time.Sleep(200 * time.Millisecond)
				after = scrapeMetrics(t, sock)
				regs = sample(after, "sipguard_sip_requests_total", map[string]string{"method": "REGISTER"}) - regs0
			}
			if regs < float64(guesses) {
				t.Errorf("sipguard_sip_requests_total{method=REGISTER} rose by %v, want at least the %d that reached the registrar", regs, guesses)
			}
			if v := sample(after, "sipguard_bans_total", map[string]string{"reason": "slow_guessing"}); v != 1 {
				t.Errorf("sipguard_bans_total{reason=slow_guessing} = %v, want 1", v)
			}
			if v := sample(after, "sipguard_time_to_ban_seconds", nil); v != 1 {
				t.Errorf("time-to-ban histogram count %v, want 1", v)
			}
			if v := sample(after, "sipguard_sip_responses_total", map[string]string{"method": "REGISTER", "class": "4xx"}); v < float64(guesses) {
				t.Errorf("4xx answers to REGISTER: %v, want at least %d", v, guesses)
			}
			if v := sample(after, "sipguard_set_entries", map[string]string{"set": "dynamic"}); v != 1 {
				t.Errorf("sipguard_set_entries{set=dynamic} = %v, want 1", v)
			}

			// The ban arrives at the listener; every message is RFC 5424.
			var ban *rfc5424.SyslogMessage
			for end := time.Now().Add(10 * time.Second); ban == nil && time.Now().Before(end); {
				line, err := next(time.Until(end))
				if err != nil {
					break
				}
				parsed, err := rfc5424.NewParser().Parse(line)
				if err != nil {
					t.Fatalf("not RFC 5424: %v\n%s", err, line)
				}
				m := parsed.(*rfc5424.SyslogMessage)
				if *m.Appname != "sipguard" || *m.Hostname != "box-test" || *m.Facility != 19 {
					t.Errorf("header of %s", line)
				}
				if m.MsgID != nil && *m.MsgID == "ban" {
					ban = m
				}
			}
			if ban == nil {
				t.Fatalf("no ban message reached the syslog listener; daemon log:\n%s", stop())
			}
			sd := (*ban.StructuredData)["sipguard@32473"]
			if sd["src"] != netlab.Attacker4.String() || sd["reason"] != "slow guessing by a source that never authenticated" || sd["ext"] != "1001" {
				t.Errorf("structured data %q", sd)
			}
			if *ban.Severity != 4 {
				t.Errorf("severity %d, want 4 (warning)", *ban.Severity)
			}
		})
	}
}
