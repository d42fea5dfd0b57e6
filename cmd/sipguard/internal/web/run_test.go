package web

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A port taken by another program is tried again until it is free; the
// server then serves HTTPS with TLS 1.2 or later only.
func TestRunRetriesABusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := busy.Addr().(*net.TCPAddr).Port
	l := newLab(t)
	l.srv.retry = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.srv.Run(ctx, Ports{HTTPS: port}) }()
	time.Sleep(200 * time.Millisecond)
	if l.srv.Listening() || !strings.Contains(l.srv.Status().Problem, "address already in use") {
		t.Errorf("with the port taken: listening %v, status %+v", l.srv.Listening(), l.srv.Status())
	}
	busy.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !l.srv.Listening() {
		if time.Now().After(deadline) {
			t.Fatal("the server did not take the freed port")
		}
		time.Sleep(20 * time.Millisecond)
	}
	addr := busy.Addr().String()
	if _, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("TLS 1.1 was accepted")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.TLS.PeerCertificates[0] == nil || Fingerprint(resp.TLS.PeerCertificates[0].Raw) != l.srv.Fingerprint() {
		t.Errorf("GET /: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
}

// Without a state file the pages and the status say the password is not
// kept.
func TestNotKept(t *testing.T) {
	s := New(Options{})
	if !strings.Contains(s.Status().Problem, "no state file") {
		t.Errorf("status: %+v", s.Status())
	}
	r := httptest.NewRequest("GET", "https://sipguard.local/setup", nil)
	r.RemoteAddr = "127.0.0.1:1"
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "lost when the box restarts") {
		t.Errorf("setup page: %d %s", w.Code, w.Body)
	}
}
