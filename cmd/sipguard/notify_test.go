package main

import (
	"io"
	"mime/quotedprintable"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// mailbox is an SMTP server that keeps what it receives.
type mailbox struct {
	mu   sync.Mutex
	msgs []string
}

func (m *mailbox) all() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.msgs...)
}

type mailSession struct{ box *mailbox }

func (s mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s mailSession) Reset()                               {}
func (s mailSession) Logout() error                        { return nil }
func (s mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, string(b))
	s.box.mu.Unlock()
	return nil
}

// The box mails the office: a test message on demand, and an alert when a
// real scanner is banned, with its address and User-Agent.
func TestNotifications(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	box := &mailbox{}
	ln, err := lab.Box.ListenLocal(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return mailSession{box}, nil }))
	srv.Domain, srv.AllowInsecureAuth = "mail.example.com", true
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()

	dir := t.TempDir()
	conf, sock, state := filepath.Join(dir, "sipguard.toml"), filepath.Join(dir, "api.sock"), filepath.Join(dir, "state.db")
	text := "[notify]\nalerts = true\n\n[notify.smtp]\nhost = \"127.0.0.1\"\nport = " + strconv.Itoa(int(port)) +
		"\nsecurity = \"none\"\nfrom = \"sipguard <box@example.com>\"\nto = [\"admin@example.com\"]\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, lab, bin, "--api", sock, "--state", state, "--config", conf)

	sipguard(t, lab, bin, "--api", sock, "notify", "test")
	if msgs := box.all(); len(msgs) != 1 || !strings.Contains(msgs[0], "admin@example.com") {
		t.Fatalf("test mail: %q", msgs)
	}
	attack(t, lab, "svmap", "-p", "5060", netlab.PBX4.String())
	deadline := time.Now().Add(30 * time.Second)
	for len(box.all()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no alert mail after the scanner's ban")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The body is quoted-printable: long lines are folded.
	alert, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(box.all()[1])))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{netlab.Attacker4.String(), "friendly-scanner", "scanner User-Agent"} {
		if !strings.Contains(string(alert), want) {
			t.Errorf("the alert lacks %q:\n%s", want, alert)
		}
	}
	if out := sipguard(t, lab, bin, "--api", sock, "notify", "status"); !strings.Contains(out, `"sent": 1`) { // the test mail is not queued
		t.Errorf("notify status:\n%s", out)
	}
}
