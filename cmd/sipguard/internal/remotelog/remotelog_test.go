package remotelog

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc5424"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Parse checks one line against RFC 5424 and returns its parts.
func Parse(t *testing.T, line []byte) *rfc5424.SyslogMessage {
	t.Helper()
	m, err := rfc5424.NewParser().Parse(line)
	if err != nil {
		t.Fatalf("not RFC 5424: %v\n%s", err, line)
	}
	return m.(*rfc5424.SyslogMessage)
}

func TestFormat(t *testing.T) {
	at := time.Date(2026, 12, 6, 5, 4, 3, 123456789, time.FixedZone("CET", 3600))
	m := Message{Time: at, Severity: Warning, MsgID: "ban", Text: "banned 198.51.100.7: REGISTER brute force\nnext",
		Params: []Param{{"src", "198.51.100.7"}, {"reason", "REGISTER brute force"}, {"ua", `evil "x" \ ] tool`}, {"ext", ""}, {"country", "FR"}}}
	line := Format(nil, 16, "sipguard-box", "42", m)
	want := `<132>1 2026-12-06T04:04:03.123456Z sipguard-box sipguard 42 ban [sipguard@32473 src="198.51.100.7" reason="REGISTER brute force" ua="evil \"x\" \\ \] tool" country="FR"] banned 198.51.100.7: REGISTER brute force next`
	if string(line) != want {
		t.Errorf("got\n%s\nwant\n%s", line, want)
	}
	p := Parse(t, line)
	sd := (*p.StructuredData)[EnterpriseID]
	if *p.Facility != 16 || *p.Severity != Warning || *p.MsgID != "ban" || *p.Appname != "sipguard" || *p.Hostname != "sipguard-box" {
		t.Errorf("parsed %+v", p)
	}
	if sd["ua"] != `evil "x" \ ] tool` || sd["src"] != "198.51.100.7" || sd["country"] != "FR" {
		t.Errorf("structured data %q", sd)
	}
	if _, ok := sd["ext"]; ok {
		t.Error("an empty parameter was sent")
	}
	// Without parameters, a NILVALUE; odd header fields are cleaned.
	line = Format(nil, 3, "", "1", Message{Time: at, Severity: Notice, MsgID: "admin action with spaces", Text: "ok"})
	p = Parse(t, line)
	if p.StructuredData != nil || p.Hostname != nil || *p.MsgID != "adminactionwithspaces" {
		t.Errorf("parsed %q: %+v", line, p)
	}
}

func TestParseAddress(t *testing.T) {
	for in, want := range map[string]string{
		"udp://192.0.2.9":         "udp 192.0.2.9:514",
		"tcp://logs.example:1601": "tcp logs.example:1601",
		"tls://[2001:db8::9]":     "tls [2001:db8::9]:6514",
	} {
		s, a, err := ParseAddress(in)
		if err != nil || s+" "+a != want {
			t.Errorf("%s: %s %s %v, want %s", in, s, a, err, want)
		}
	}
	for _, bad := range []string{"", "192.0.2.9:514", "http://192.0.2.9", "udp://192.0.2.9:0", "udp://192.0.2.9:70000", "tcp://x/path", "udp://"} {
		if _, _, err := ParseAddress(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if f, err := ParseFacility("local0"); err != nil || f != 16 {
		t.Errorf("local0: %d %v", f, err)
	}
	if _, err := ParseFacility("local9"); err == nil {
		t.Error("local9 accepted")
	}
}

// readFrames reads octet-counted messages from c.
func readFrames(t *testing.T, c net.Conn, n int) []string {
	t.Helper()
	r := bufio.NewReader(c)
	var out []string
	for range n {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		lenField, err := r.ReadString(' ')
		if err != nil {
			t.Fatalf("read the length: %v", err)
		}
		size, err := strconv.Atoi(strings.TrimSuffix(lenField, " "))
		if err != nil {
			t.Fatalf("length %q: %v", lenField, err)
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(r, msg); err != nil {
			t.Fatalf("read %d bytes: %v", size, err)
		}
		Parse(t, msg)
		out = append(out, string(msg))
	}
	return out
}

func run(t *testing.T, l *Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func msg(id string) Message {
	return Message{Time: time.Now(), Severity: Warning, MsgID: "ban", Params: []Param{{"src", id}}, Text: "banned " + id}
}

// Over TCP each message is framed by its length; a lost connection is
// reconnected and the message that failed is sent again.
func TestTCPFramingAndReconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l, err := New(Config{Address: "tcp://" + ln.Addr().String(), Hostname: "box", Facility: 16, Backoff: 10 * time.Millisecond}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	run(t, l)
	l.Send(msg("198.51.100.1"))
	l.Send(msg("198.51.100.2"))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got := readFrames(t, c, 2)
	if !strings.Contains(got[0], `src="198.51.100.1"`) || !strings.Contains(got[1], `src="198.51.100.2"`) {
		t.Errorf("got %q", got)
	}
	c.Close()
	// The server went away: the sender finds out on a write, reconnects
	// and the messages arrive on the new connection.
	deadline := time.Now().Add(10 * time.Second)
	var c2 net.Conn
	accepted := make(chan net.Conn)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	for c2 == nil && time.Now().Before(deadline) {
		l.Send(msg("198.51.100.3"))
		select {
		case c2 = <-accepted:
		case <-time.After(50 * time.Millisecond):
		}
	}
	if c2 == nil {
		t.Fatal("no reconnection")
	}
	defer c2.Close()
	if got := readFrames(t, c2, 1); !strings.Contains(got[0], `src="198.51.100.3"`) {
		t.Errorf("after the reconnection: %q", got)
	}
	if st := l.Status(); st.Sent < 3 || !st.Connected {
		t.Errorf("status %+v", st)
	}
}

// Over UDP each message is one datagram.
func TestUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := New(Config{Address: "udp://" + pc.LocalAddr().String(), Hostname: "box", Facility: 16}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	run(t, l)
	l.Send(msg("198.51.100.4"))
	buf := make([]byte, 4096)
	_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if p := Parse(t, buf[:n]); (*p.StructuredData)[EnterpriseID]["src"] != "198.51.100.4" {
		t.Errorf("got %q", buf[:n])
	}
}

// A full queue drops and counts what does not fit, without blocking.
func TestQueueOverflow(t *testing.T) {
	l, err := New(Config{Address: "tcp://192.0.2.1:601", Hostname: "box", Queue: 4}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 10 {
		l.Send(msg(strconv.Itoa(i)))
	}
	if time.Since(start) > time.Second {
		t.Error("Send blocked")
	}
	if st := l.Status(); st.Dropped != 6 || st.Queued != 4 {
		t.Errorf("status %+v, want 6 dropped and 4 queued", st)
	}
}

// Over TLS the server's certificate is checked against the CA file.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "logs"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Trusting the system's roots only, the test CA's server is refused.
	refused, err := New(Config{Address: "tls://" + ln.Addr().String(), Hostname: "box", Backoff: time.Hour}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if c, err := ln.Accept(); err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	run(t, refused)
	refused.Send(msg("198.51.100.5"))
	deadline := time.Now().Add(10 * time.Second)
	for refused.Status().Errors == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := refused.Status(); st.Errors == 0 || st.Sent != 0 || !strings.Contains(st.LastError, "certificate") {
		t.Errorf("without the CA: %+v", st)
	}
	l, err := New(Config{Address: "tls://" + ln.Addr().String(), Hostname: "box", CA: caFile}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	run(t, l)
	l.Send(msg("198.51.100.6"))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := readFrames(t, c, 1); !strings.Contains(got[0], `src="198.51.100.6"`) {
		t.Errorf("got %q", got)
	}
	if _, err := New(Config{Address: "tls://127.0.0.1", Hostname: "box", CA: filepath.Join(dir, "missing.pem")}, quiet); err == nil {
		t.Error("a missing CA file was accepted")
	}
}
