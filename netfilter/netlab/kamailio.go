package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Registrar is Kamailio (from Debian) running as the office PBX in a lab's
// pbx namespace, with the configuration in testdata/kamailio: digest
// authentication for extensions 1001 and 1002, and one log line per request
// so that what reached it can be counted.
type Registrar struct {
	cmd *exec.Cmd
	Log Buffer
}

// StartRegistrar starts Kamailio with the configuration in dir (holding
// kamailio.cfg and db/) and waits until it answers. work is a scratch
// folder.
func (l *Lab) StartRegistrar(ctx context.Context, dir, work string) (*Registrar, error) {
	kamailio, err := exec.LookPath("kamailio")
	if err != nil {
		return nil, err
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "kamailio.cfg"))
	if err != nil {
		return nil, err
	}
	db, err := filepath.Abs(filepath.Join(dir, "db"))
	if err != nil {
		return nil, err
	}
	text := strings.NewReplacer("@DBDIR@", db, "@LISTEN4@", PBX4.String(), "@LISTEN6@", PBX6.String()).Replace(string(cfg))
	if err := os.WriteFile(filepath.Join(work, "kamailio.cfg"), []byte(text), 0o644); err != nil {
		return nil, err
	}
	r := &Registrar{}
	r.cmd = l.PBX.Command(ctx, kamailio, "-f", filepath.Join(work, "kamailio.cfg"), "-DD", "-E",
		"-w", work, "-P", filepath.Join(work, "kamailio.pid"), "-m", "32", "-M", "8")
	r.cmd.Stdout, r.cmd.Stderr = &r.Log, &r.Log
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for !r.answers(l) {
		if time.Now().After(deadline) {
			_ = r.Stop()
			return nil, fmt.Errorf("kamailio did not answer within 10s:\n%s", r.Log.String())
		}
	}
	return r, nil
}

// answers sends an OPTIONS from the office side and reports whether it
// was answered within 200 ms.
func (r *Registrar) answers(l *Lab) bool {
	c, err := l.PBX.DialUDP(PBX4, netip.AddrPortFrom(PBX4, 5060))
	if err != nil {
		return false
	}
	defer c.Close()
	_, _ = fmt.Fprintf(c, "OPTIONS sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP %v;branch=z9hG4bKready\r\nFrom: <sip:lab@pbx.example.com>;tag=1\r\nTo: <sip:lab@pbx.example.com>\r\nCall-ID: ready\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", c.LocalAddr())
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	n, _ := c.Read(make([]byte, 1500))
	return n > 0
}

// Stop ends Kamailio and its children.
func (r *Registrar) Stop() error { return Stop(r.cmd, 5*time.Second) }

var requestLine = regexp.MustCompile(`REQ (\S+) from (\S+) ext (\S*) creds (\d*)`)

// Requests counts the requests of a method from src that reached the
// registrar, and how many of them carried credentials.
func (r *Registrar) Requests(method string, src netip.Addr) (all, withCreds int) {
	for _, m := range requestLine.FindAllStringSubmatch(r.Log.String(), -1) {
		if m[1] == method && m[2] == src.String() {
			all++
			if m[4] != "" && m[4] != "0" {
				withCreds++
			}
		}
	}
	return all, withCreds
}
