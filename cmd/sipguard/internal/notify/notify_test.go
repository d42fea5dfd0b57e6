package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

var paris = time.FixedZone("CET", 3600)

func mailSettings(ms *mailServer) Settings {
	return Settings{
		Hostname: "box1",
		SMTP: SMTP{Host: "127.0.0.1", Port: ms.Port, Security: StartTLS, User: "box", Password: "secret",
			From: "sipguard <box1@example.com>", To: []string{"admin@example.com", "ops@example.com"}, Timeout: 5 * time.Second},
		Location: paris,
	}
}

// start runs n until the test ends.
func start(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

func attack(at time.Time, src, reason, ua, ext, country string) store.Event {
	p := netip.MustParsePrefix(src + "/32")
	return store.Event{Time: at, Action: store.ActionBan, Source: p, Addr: p.Addr(), Reason: reason, Count: 5, UserAgent: ua, Extension: ext, Country: country}
}

func subject(t *testing.T, m received) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// text is a received message's body, quoted-printable decoded.
func text(m received) string {
	body := m.Body
	body = strings.ReplaceAll(body, "=\r\n", "")
	body = strings.ReplaceAll(body, "=3D", "=")
	body = strings.ReplaceAll(body, "=E2=80=A6", "…")
	return body
}

func TestTestMailStartTLSAuth(t *testing.T) {
	ms := startMailServer(t, false)
	n, err := New(mailSettings(ms), Options{TLSConfig: &tls.Config{RootCAs: ms.Roots}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Test(context.Background()); err != nil {
		t.Fatal(err)
	}
	msgs := ms.messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if !m.TLS || m.User != "box" {
		t.Errorf("TLS %v, user %q: want STARTTLS and AUTH as box", m.TLS, m.User)
	}
	if m.From != "box1@example.com" || strings.Join(m.To, ",") != "admin@example.com,ops@example.com" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	if got := subject(t, m); got != "sipguard box1: test message" {
		t.Errorf("subject %q", got)
	}
	if to := m.Header.Get("To"); !strings.Contains(to, "admin@example.com") || !strings.Contains(to, "ops@example.com") {
		t.Errorf("To: %q", to)
	}
	if m.Header.Get("Auto-Submitted") != "auto-generated" || m.Header.Get("Message-Id") == "" || m.Header.Get("Date") == "" {
		t.Errorf("headers %v", m.Header)
	}
	if !strings.Contains(text(m), "test message from sipguard box1") {
		t.Errorf("body %q", m.Body)
	}
}

func TestImplicitTLS(t *testing.T) {
	ms := startMailServer(t, true)
	s := mailSettings(ms)
	s.SMTP.Security = TLS
	n, err := New(s, Options{TLSConfig: &tls.Config{RootCAs: ms.Roots}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Test(context.Background()); err != nil {
		t.Fatal(err)
	}
	if msgs := ms.messages(); len(msgs) != 1 || !msgs[0].TLS {
		t.Fatalf("got %+v", msgs)
	}
}

func TestTestMailUntrustedCertificate(t *testing.T) {
	ms := startMailServer(t, false)
	n, err := New(mailSettings(ms), Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Test(context.Background())
	if err == nil || !strings.Contains(err.Error(), "mail test") {
		t.Fatalf("Test with an untrusted certificate: %v", err)
	}
	if len(ms.messages()) != 0 {
		t.Fatal("a message went through an untrusted connection")
	}
}

func TestAlertBatching(t *testing.T) {
	ms := startMailServer(t, false)
	s := mailSettings(ms)
	s.Alerts = true
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, paris)
	clock := newFakeClock(t0)
	n, err := New(s, Options{Clock: clock, TLSConfig: &tls.Config{RootCAs: ms.Roots}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, n)

	n.Alert(attack(t0, "203.0.113.7", "register-failures", "friendly-scanner", "100", "FR"))
	eventually(t, "the first alert mail", func() bool { return len(ms.messages()) == 1 })
	first := ms.messages()[0]
	if got := subject(t, first); got != "sipguard box1: banned 203.0.113.7 (register-failures)" {
		t.Errorf("first subject %q", got)
	}

	clock.advance(10 * time.Minute)
	n.Alert(attack(clock.Now(), "198.51.100.9", "scanner", "sipvicious", "", "CN"))
	clock.advance(20 * time.Minute)
	n.Alert(attack(clock.Now(), "2001:db8::5", "invite-failures", "", "200", ""))
	eventually(t, "two alerts batched", func() bool { return n.Status().Pending == 2 })
	if st := n.Status(); !st.NextAlert.Equal(t0.Add(time.Hour)) {
		t.Errorf("next alert at %v, want %v", st.NextAlert, t0.Add(time.Hour))
	}
	time.Sleep(20 * time.Millisecond)
	if len(ms.messages()) != 1 {
		t.Fatal("a second mail within the hour")
	}

	clock.advance(30*time.Minute - time.Second)
	time.Sleep(20 * time.Millisecond)
	if len(ms.messages()) != 1 {
		t.Fatal("the batch went out before the hour was over")
	}
	clock.advance(time.Second)
	eventually(t, "the batched mail", func() bool { return len(ms.messages()) == 2 })
	second := ms.messages()[1]
	if got := subject(t, second); got != "sipguard box1: 2 events since 10:10 (invite-failures, scanner)" {
		t.Errorf("batch subject %q", got)
	}
	body := text(second)
	for _, want := range []string{"198.51.100.9", "CN", "sipvicious", "2001:db8::5", "200", "2 events between 2026-11-25 10:10:00 and 2026-11-25 10:30:00"} {
		if !strings.Contains(body, want) {
			t.Errorf("batch body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "203.0.113.7") {
		t.Errorf("batch repeats the first alert:\n%s", body)
	}
	eventually(t, "the status to show 2 mails sent", func() bool {
		st := n.Status()
		return st.Mail.Sent == 2 && st.Pending == 0 && st.Mail.Queued == 0
	})

	// A quiet hour later, the next attack goes out at once again.
	clock.advance(2 * time.Hour)
	n.Alert(attack(clock.Now(), "192.0.2.1", "flood", "", "", ""))
	eventually(t, "the next immediate alert", func() bool { return len(ms.messages()) == 3 })
}

func TestDailySummary(t *testing.T) {
	ms := startMailServer(t, false)
	s := mailSettings(ms)
	s.Daily, s.DailyHour = true, 7
	clock := newFakeClock(time.Date(2026, 11, 25, 5, 30, 0, 0, paris))
	type period struct{ from, to time.Time }
	asked := make(chan period, 2)
	summarize := func(_ context.Context, from, to time.Time) (Summary, error) {
		asked <- period{from, to}
		r := store.Report{From: from, To: to,
			Tally: store.Tally{Events: 13, Attacks: map[string]int{"register-failures": 8, "scanner": 4}, Bans: 4, Permanent: 1, Alerts: 1},
			TopSources: []store.Count{
				{Value: "203.0.113.7", Count: 8, Country: "FR"},
				{Value: "198.51.100.9", Count: 4},
			},
			TopUserAgents: []store.Count{{Value: "friendly-scanner", Count: 8}, {Value: "sipvicious", Count: 4}},
			TopExtensions: []store.Count{{Value: "1001", Count: 6}, {Value: "admin", Count: 2}},
		}
		bans := Bans{
			Temporary: []Ban{{Source: "203.0.113.7", UserAgent: "friendly-scanner", Country: "FR"}},
			Permanent: []Ban{{Source: "198.51.100.9", UserAgent: "sipvicious", Country: "CN"}, {Source: "192.0.2.9"}},
		}
		fw := &Firmware{Version: "1.4.0", Slot: "a", Checked: to.Add(-4 * time.Hour), Tamper: []string{"boot/cmdline.txt"}}
		geo := &SourceStatus{Name: "dbip-country-lite", Entries: 512000, LastSuccess: from}
		feeds := []SourceStatus{{Name: "voipbl", Entries: 41000, LastSuccess: to.Add(-time.Hour)}, {Name: "apiban", LastError: "401 Unauthorized"}}
		return NewSummary(r, bans, fw, geo, feeds), nil
	}
	n, err := New(s, Options{Clock: clock, Summary: summarize, TLSConfig: &tls.Config{RootCAs: ms.Roots}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, n)
	at := time.Date(2026, 11, 25, 7, 0, 0, 0, paris)
	eventually(t, "the daily timer", func() bool { return n.Status().NextSummary.Equal(at) })
	for _, step := range []time.Time{at.Add(-time.Hour), at.Add(-time.Minute)} {
		clock.waitTimers(t, 1)
		clock.advanceTo(step)
	}
	clock.waitTimers(t, 1)
	if len(asked) != 0 {
		t.Fatal("summary before its hour")
	}
	clock.advanceTo(at)
	p := <-asked
	if !p.from.Equal(at.AddDate(0, 0, -1)) || !p.to.Equal(at) {
		t.Errorf("summary of %v–%v", p.from, p.to)
	}
	eventually(t, "the summary mail", func() bool { return len(ms.messages()) == 1 })
	m := ms.messages()[0]
	if got := subject(t, m); got != "sipguard box1: TAMPER WARNING, 12 attacks, 5 bans on 2026-11-25" {
		t.Errorf("subject %q", got)
	}
	if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("content type %q: want text and HTML", ct)
	}
	body := text(m)
	for _, want := range []string{
		"Period: 2026-11-24 07:00 to 2026-11-25 07:00",
		"Attacks: 12", "register-failures  8", "scanner            4",
		"Bans made: 4 temporary, 1 permanent",
		"Bans in force: 1 temporary, 2 permanent",
		"203.0.113.7   8  FR  friendly-scanner  temporary",
		"198.51.100.9  4  CN  sipvicious        permanent",
		"1001   6", "admin  2",
		"voipbl  41000 entries", "apiban  0 entries      never updated", "error: 401 Unauthorized",
		"dbip-country-lite  512000 entries",
		"TAMPER WARNING: 1 file differ", "boot/cmdline.txt",
		"text/html",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("summary lacks %q:\n%s", want, body)
		}
	}
	if st := n.Status(); !st.NextSummary.Equal(at.AddDate(0, 0, 1)) || !st.LastSummary.Equal(at) {
		t.Errorf("status after the summary: %+v", st)
	}
}

func TestDailySummaryAfterClockSet(t *testing.T) {
	h := startHook(t, 0)
	// The box boots without a real-time clock, and NTP sets it later.
	clock := newFakeClock(time.Date(1970, 1, 1, 0, 10, 0, 0, time.UTC))
	asked := make(chan time.Time, 2)
	n, err := New(Settings{Hostname: "box1", Daily: true, DailyHour: 7, Location: time.UTC, Webhook: Webhook{URL: h.URL}},
		Options{Clock: clock, Summary: func(_ context.Context, from, to time.Time) (Summary, error) {
			asked <- to
			return Summary{}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, n)
	clock.waitTimers(t, 1)
	clock.advanceTo(time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC))
	want := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
	eventually(t, "the next summary after the clock was set", func() bool { return n.Status().NextSummary.Equal(want) })
	if len(asked) != 0 {
		t.Fatal("a summary of 1970 was sent")
	}
	clock.waitTimers(t, 1)
	clock.advanceTo(want.Add(time.Minute)) // a timer fires a little late
	if got := <-asked; !got.Equal(want) {
		t.Errorf("summary up to %v, want %v", got, want)
	}
	eventually(t, "the summary post", func() bool { _, b := h.got(); return len(b) == 1 })
}

func TestRetryAfterRefusal(t *testing.T) {
	ms := startMailServer(t, false)
	ms.refuse = 2
	s := mailSettings(ms)
	s.Alerts, s.RetryMin, s.RetryMax = true, 10*time.Millisecond, 40*time.Millisecond
	n, err := New(s, Options{TLSConfig: &tls.Config{RootCAs: ms.Roots}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, n)
	n.Alert(attack(time.Now(), "203.0.113.7", "scanner", "", "", ""))
	eventually(t, "the mail after two refusals", func() bool { return len(ms.messages()) == 1 && n.Status().Mail.Sent == 1 })
	st := n.Status()
	if st.Mail.Sent != 1 || st.Mail.Retries != 2 || st.Mail.Failed != 0 || !strings.Contains(st.Mail.LastError, "451") {
		t.Errorf("status %+v", st.Mail)
	}
}

func TestDeadServerNeverBlocks(t *testing.T) {
	// A server that accepts connections and never says a word.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { <-stop; c.Close() })
		}
	}()
	t.Cleanup(func() { l.Close(); close(stop); conns.Wait() })

	s := Settings{Hostname: "box1", Alerts: true, Queue: 4, MaxBatch: 3,
		SMTP: SMTP{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, Security: None, From: "box@example.com", To: []string{"a@example.com"}, Timeout: time.Hour}}
	n, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start(t, n)
	began := time.Now()
	const calls = 100000
	for i := range calls {
		n.Alert(withCount(attack(time.Now(), "203.0.113.7", "scanner", "", "", ""), i))
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("%d Alert calls took %v", calls, took)
	}
	eventually(t, "the alerts counted", func() bool {
		st := n.Status()
		return st.Dropped+st.Pending+1 == calls
	})
	st := n.Status()
	t.Logf("status: %+v", st)
	if st.Unlisted != st.Pending-s.MaxBatch {
		t.Errorf("%d unlisted, want all but %d of the %d pending", st.Unlisted, s.MaxBatch, st.Pending)
	}
	if st.Mail.Sent != 0 || st.Mail.Queued != 1 {
		t.Errorf("mail status %+v", st.Mail)
	}
}

func withCount(e store.Event, i int) store.Event { e.Count = i; return e }

// hookServer is a webhook endpoint that fails the first requests.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	fail     int
	requests []*http.Request
	bodies   [][]byte
}

func startHook(t *testing.T, fail int) *hookServer {
	h := &hookServer{fail: fail}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.requests = append(h.requests, r)
		if len(h.requests) <= h.fail {
			http.Error(w, "busy", http.StatusInternalServerError)
			return
		}
		h.bodies = append(h.bodies, body)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) got() (int, [][]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.requests), append([][]byte(nil), h.bodies...)
}

func TestWebhookAlertsRetry(t *testing.T) {
	h := startHook(t, 1)
	clock := newFakeClock(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	s := Settings{Hostname: "box1", Alerts: true, Webhook: Webhook{URL: h.URL + "/hook", Token: "t0ken"}, RetryMin: time.Minute}
	n, err := New(s, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	start(t, n)
	n.Alert(attack(clock.Now(), "203.0.113.7", "register-failures", "friendly-scanner", "100", "FR"))
	eventually(t, "the refused post", func() bool { r, _ := h.got(); return r == 1 })
	eventually(t, "the retry timer", func() bool { return n.Status().Webhook.Retries == 1 })
	if st := n.Status().Webhook; !strings.Contains(st.LastError, "500") || st.Queued != 1 {
		t.Errorf("status after the refusal: %+v", st)
	}
	clock.advance(time.Minute)
	eventually(t, "the retried post", func() bool { _, b := h.got(); return len(b) == 1 && n.Status().Webhook.Sent == 1 })
	_, bodies := h.got()
	h.mu.Lock()
	req := h.requests[1]
	h.mu.Unlock()
	if req.Method != http.MethodPost || req.URL.Path != "/hook" || req.Header.Get("Authorization") != "Bearer t0ken" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s %v", req.Method, req.URL, req.Header)
	}
	var p struct {
		Type   string `json:"type"`
		Host   string `json:"host"`
		Text   string `json:"text"`
		Alerts struct {
			Events []struct {
				Source    string `json:"source"`
				Reason    string `json:"reason"`
				Country   string `json:"country"`
				UserAgent string `json:"user_agent"`
				Extension string `json:"extension"`
			} `json:"events"`
			Tally struct {
				Bans int `json:"bans"`
			} `json:"tally"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "alerts" || p.Host != "box1" || !strings.Contains(p.Text, "banned 203.0.113.7") || len(p.Alerts.Events) != 1 || p.Alerts.Tally.Bans != 1 {
		t.Errorf("payload %s", bodies[0])
	}
	if e := p.Alerts.Events[0]; e.Source != "203.0.113.7/32" || e.Reason != "register-failures" || e.Country != "FR" || e.UserAgent != "friendly-scanner" || e.Extension != "100" {
		t.Errorf("event %+v", e)
	}
	if st := n.Status().Webhook; st.Sent != 1 || st.Queued != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestWebhookSummaryHeaderAndGiveUp(t *testing.T) {
	h := startHook(t, 0)
	s := Settings{Hostname: "box1", Webhook: Webhook{URL: h.URL, Token: "k", Header: "X-Gotify-Key"}}
	n, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start(t, n)
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	n.SendSummary(NewSummary(store.Report{From: day, To: day.AddDate(0, 0, 1), Tally: store.Tally{Attacks: map[string]int{"scanner": 3}, Bans: 3}}, Bans{}, nil, nil, nil))
	eventually(t, "the summary post", func() bool { _, b := h.got(); return len(b) == 1 })
	_, bodies := h.got()
	h.mu.Lock()
	hdr := h.requests[0].Header
	h.mu.Unlock()
	if hdr.Get("X-Gotify-Key") != "k" || hdr.Get("Authorization") != "" {
		t.Errorf("headers %v", hdr)
	}
	var p WebhookPayload
	if err := json.Unmarshal(bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "summary" || p.Summary == nil || p.Summary.Report.Attacks["scanner"] != 3 || !strings.HasPrefix(p.Text, "sipguard box1: 3 attacks, 3 bans on 2026-11-25") {
		t.Errorf("payload %s", bodies[0])
	}

	// A webhook that always fails is given up after the attempts.
	bad := startHook(t, 1000)
	s = Settings{Hostname: "box1", Webhook: Webhook{URL: bad.URL}, Attempts: 3, RetryMin: time.Millisecond}
	n, err = New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start(t, n)
	n.SendSummary(Summary{})
	eventually(t, "giving up", func() bool { return n.Status().Webhook.Failed == 1 })
	if r, _ := bad.got(); r != 3 {
		t.Errorf("%d tries, want 3", r)
	}
	if st := n.Status().Webhook; st.Queued != 0 || st.Retries != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestWebhookTest(t *testing.T) {
	h := startHook(t, 0)
	n, err := New(Settings{Hostname: "box1", Webhook: Webhook{URL: h.URL}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Test(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, bodies := h.got()
	if len(bodies) != 1 || !strings.Contains(string(bodies[0]), `"type":"test"`) {
		t.Fatalf("bodies %q", bodies)
	}
	bad := startHook(t, 1)
	n, _ = New(Settings{Webhook: Webhook{URL: bad.URL}}, Options{})
	if err := n.Test(context.Background()); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("Test against a failing webhook: %v", err)
	}
	n, _ = New(Settings{}, Options{})
	if err := n.Test(context.Background()); !errors.Is(err, ErrInvalid) {
		t.Errorf("Test with nothing configured: %v", err)
	}
}

func TestQueueDropsOldest(t *testing.T) {
	c := newChannel("mail", Settings{Queue: 3}, SystemClock{}, nil, nil)
	for i := range 5 {
		c.enqueue(&message{kind: string(rune('a' + i))})
	}
	var kinds string
	for _, m := range c.queue {
		kinds += m.kind
	}
	if kinds != "ade" || c.snapshot().Dropped != 2 || c.snapshot().Queued != 3 {
		t.Errorf("queue %q, status %+v", kinds, c.snapshot())
	}
}

func TestValidate(t *testing.T) {
	good := Settings{Daily: true, Alerts: true, DailyHour: 7,
		SMTP:    SMTP{Host: "mail.example.com", User: "u", Password: "p", From: "sipguard <box@example.com>", To: []string{"a@example.com"}},
		Webhook: Webhook{URL: "https://chat.example.com/hooks/x", Token: "t"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("good settings: %v", err)
	}
	if err := (Settings{}).Validate(); err != nil {
		t.Fatalf("zero settings: %v", err)
	}
	for _, tc := range []struct {
		field  string
		change func(*Settings)
	}{
		{"smtp.port", func(s *Settings) { s.SMTP.Port = 70000 }},
		{"smtp.security", func(s *Settings) { s.SMTP.Security = "ssl" }},
		{"smtp.host", func(s *Settings) { s.SMTP.Host = "mail.example.com:587" }},
		{"smtp.host", func(s *Settings) { s.SMTP.Host = ""; s.Webhook = Webhook{} }},
		{"smtp.from", func(s *Settings) { s.SMTP.From = "" }},
		{"smtp.from", func(s *Settings) { s.SMTP.From = "not an address" }},
		{"smtp.to", func(s *Settings) { s.SMTP.To = nil }},
		{"smtp.to", func(s *Settings) { s.SMTP.To = []string{"a@example.com", "bad@"} }},
		{"smtp.password", func(s *Settings) { s.SMTP.Password = "" }},
		{"smtp.user", func(s *Settings) { s.SMTP.User = "" }},
		{"smtp.user", func(s *Settings) { s.SMTP.Security = None }},
		{"webhook.url", func(s *Settings) { s.Webhook.URL = "ftp://example.com/x" }},
		{"webhook.url", func(s *Settings) { s.Webhook.URL = "https:///x" }},
		{"webhook.url", func(s *Settings) { s.Webhook.URL = "" }},
		{"webhook.header", func(s *Settings) { s.Webhook.Header = "X Bad" }},
		{"webhook.token", func(s *Settings) { s.Webhook.Token = "a\r\nb" }},
		{"daily_hour", func(s *Settings) { s.DailyHour = 24 }},
		{"alerts", func(s *Settings) { s.Daily = false; s.SMTP = SMTP{}; s.Webhook = Webhook{} }},
		{"alert_interval", func(s *Settings) { s.AlertInterval = -time.Second }},
		{"queue", func(s *Settings) { s.Queue = -1 }},
		{"retry_max", func(s *Settings) { s.RetryMin = time.Minute; s.RetryMax = time.Second }},
	} {
		s := good
		s.SMTP.To = append([]string(nil), good.SMTP.To...)
		tc.change(&s)
		err := s.Validate()
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: got %v", tc.field, err)
		}
		if _, nerr := New(s, Options{}); nerr == nil {
			t.Errorf("%s: New accepted invalid settings", tc.field)
		}
	}
}

func TestNextDaily(t *testing.T) {
	for _, tc := range []struct{ now, want string }{
		{"2026-11-25T05:30:00Z", "2026-11-25T07:00:00Z"},
		{"2026-11-25T07:00:00Z", "2026-11-26T07:00:00Z"},
		{"2026-11-25T23:59:00Z", "2026-11-26T07:00:00Z"},
	} {
		now, _ := time.Parse(time.RFC3339, tc.now)
		if got := nextDaily(now, 7, time.UTC).Format(time.RFC3339); got != tc.want {
			t.Errorf("after %s: %s, want %s", tc.now, got, tc.want)
		}
	}
}
