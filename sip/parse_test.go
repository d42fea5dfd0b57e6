package sip

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t *testing.T, name string) *Message {
	t.Helper()
	var m Message
	if err := Parse(load(t, name), &m); err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return &m
}

func eq(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if string(got) != want || (want == "" && got != nil) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestParseRegisterWithCredentials(t *testing.T) {
	m := parse(t, "register.sip")
	if !m.Request || m.Method != REGISTER || m.CSeq != 2 || m.Expires != 3600 || m.ContentLength != 0 {
		t.Errorf("request %v method %v cseq %d expires %d length %d", m.Request, m.Method, m.CSeq, m.Expires, m.ContentLength)
	}
	eq(t, "RequestURI", m.RequestURI, "sip:pbx.example.com")
	eq(t, "URIUser", m.URIUser, "")
	eq(t, "FromUser", m.FromUser, "1001")
	eq(t, "FromTag", m.FromTag, "a73kszlfl")
	eq(t, "ToUser", m.ToUser, "1001")
	eq(t, "ToTag", m.ToTag, "")
	eq(t, "CallID", m.CallID, "1j9FpLxk3uxtm8tn@198.51.100.10")
	eq(t, "ViaBranch", m.ViaBranch, "z9hG4bK-524287-1---4f2b3c9d1e0a")
	eq(t, "ViaSentBy", m.ViaSentBy, "198.51.100.10:5060")
	eq(t, "UserAgent", m.UserAgent, "Yealink SIP-T46S 66.86.0.15")
	eq(t, "Contact", m.Contact, "<sip:1001@198.51.100.10:5060;rinstance=8c1a2e>")
	eq(t, "CredentialsUser", m.CredentialsUser, "1001")
	if m.Credentials != Authorization {
		t.Errorf("Credentials = %v", m.Credentials)
	}
	if b := load(t, "register.sip"); m.BodyOffset != len(b) {
		t.Errorf("BodyOffset = %d, want %d (no body)", m.BodyOffset, len(b))
	}
}

func TestParseInviteFromScanner(t *testing.T) {
	m := parse(t, "invite.sip")
	if m.Method != INVITE || m.Credentials != NoCredentials || m.ContentLength != 129 {
		t.Errorf("method %v credentials %v length %d", m.Method, m.Credentials, m.ContentLength)
	}
	eq(t, "URIUser", m.URIUser, "0033123456789")
	eq(t, "FromUser", m.FromUser, "100")
	eq(t, "ToUser", m.ToUser, "0033123456789")
	eq(t, "UserAgent", m.UserAgent, "friendly-scanner")
	b := load(t, "invite.sip")
	if !strings.HasPrefix(string(b[m.BodyOffset:]), "v=0\r\n") {
		t.Errorf("body starts with %q", b[m.BodyOffset:min(len(b), m.BodyOffset+10)])
	}
}

func TestParseResponses(t *testing.T) {
	m := parse(t, "401.sip")
	if m.Request || m.Status != 401 || m.Method != REGISTER || m.CSeq != 2 || !m.Stale {
		t.Errorf("401: request %v status %d method %v cseq %d stale %v", m.Request, m.Status, m.Method, m.CSeq, m.Stale)
	}
	eq(t, "Reason", m.Reason, "Unauthorized")
	eq(t, "Server", m.Server, "FPBX-16.0.40(18.20.0)")
	eq(t, "ToTag", m.ToTag, "z9hG4bK-524287-1---4f2b3c9d1e0a")

	m = parse(t, "200.sip")
	if m.Status != 200 || m.Method != REGISTER || m.CSeq != 3 || m.Stale || m.Expires != 3600 {
		t.Errorf("200: status %d method %v cseq %d stale %v expires %d", m.Status, m.Method, m.CSeq, m.Stale, m.Expires)
	}
}

func TestParseCompactFoldedLowerCaseLF(t *testing.T) {
	m := parse(t, "compact-folded.sip")
	// Methods are case-sensitive: "register" is not REGISTER.
	if m.Method != MethodOther || string(m.MethodName) != "register" || m.CSeq != 7 || m.ContentLength != 0 {
		t.Errorf("method %v %q cseq %d length %d", m.Method, m.MethodName, m.CSeq, m.ContentLength)
	}
	eq(t, "ViaSentBy", m.ViaSentBy, "[2001:db8:c::10]:5060")
	eq(t, "ViaBranch", m.ViaBranch, "z9hG4bKcompact")
	eq(t, "FromUser", m.FromUser, "2002")
	eq(t, "FromTag", m.FromTag, "f0ld")
	eq(t, "CallID", m.CallID, "compact-1@2001:db8:c::10")
	eq(t, "Contact", m.Contact, "<sip:2002@[2001:db8:c::10]:5060;transport=tcp>")
	eq(t, "CredentialsUser", m.CredentialsUser, "2002")
	if m.Credentials != ProxyAuthorization {
		t.Errorf("Credentials = %v", m.Credentials)
	}
}

func TestParseScannerOptions(t *testing.T) {
	m := parse(t, "options-scanner.sip")
	if m.Method != OPTIONS {
		t.Errorf("method %v", m.Method)
	}
	eq(t, "URIUser", m.URIUser, "100")
	eq(t, "FromUser", m.FromUser, "100")
	eq(t, "UserAgent", m.UserAgent, "friendly-scanner")
}

func TestParseRejects(t *testing.T) {
	reg := string(load(t, "register.sip"))
	head, _, _ := strings.Cut(reg, "\r\n\r\n")
	for name, c := range map[string]struct {
		msg  string
		want error
	}{
		"empty":            {"", ErrTruncated},
		"no blank line":    {head + "\r\n", ErrTruncated},
		"cut in a header":  {reg[:len(reg)/2], ErrTruncated},
		"binary":           {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", ErrStartLine},
		"http":             {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", ErrStartLine},
		"bad version":      {strings.Replace(reg, "SIP/2.0\r\n", "SIP/3.0\r\n", 1), ErrStartLine},
		"status 999":       {"SIP/2.0 999 Nope\r\n\r\n", ErrStartLine},
		"status letters":   {"SIP/2.0 2xx OK\r\n\r\n", ErrStartLine},
		"no colon":         {strings.Replace(reg, "Max-Forwards: 70", "Max-Forwards 70", 1), ErrHeader},
		"space in name":    {strings.Replace(reg, "Max-Forwards:", "Max Forwards:", 1), ErrHeader},
		"cseq mismatch":    {strings.Replace(reg, "CSeq: 2 REGISTER", "CSeq: 2 INVITE", 1), ErrValue},
		"cseq no number":   {strings.Replace(reg, "CSeq: 2 REGISTER", "CSeq: REGISTER", 1), ErrValue},
		"cseq too big":     {strings.Replace(reg, "CSeq: 2 REGISTER", "CSeq: 99999999999 REGISTER", 1), ErrValue},
		"bad length":       {strings.Replace(reg, "Content-Length: 0", "Content-Length: -5", 1), ErrValue},
		"bad via":          {strings.Replace(reg, "Via: SIP/2.0/UDP ", "Via: HTTP/1.1 ", 1), ErrValue},
		"unclosed from":    {strings.Replace(reg, "From: <sip:1001@pbx.example.com>", "From: <sip:1001@pbx.example.com", 1), ErrValue},
		"no call-id":       {strings.Replace(reg, "Call-ID:", "X-Call-ID:", 1), ErrMissing},
		"no via":           {strings.Replace(reg, "Via:", "X-Via:", 1), ErrMissing},
		"empty call-id":    {strings.Replace(reg, "Call-ID: 1j9FpLxk3uxtm8tn@198.51.100.10", "Call-ID:", 1), ErrValue},
		"response no cseq": {"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n\r\n", ErrMissing},
	} {
		var m Message
		if err := Parse([]byte(c.msg), &m); !errors.Is(err, c.want) {
			t.Errorf("%s: Parse = %v, want %v", name, err, c.want)
		}
	}
}

// TestParseAllocatesNothing is the zero-allocation promise, checked on every
// sample and on the error paths.
func TestParseAllocatesNothing(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	bufs := [][]byte{[]byte("garbage\r\n\r\n"), []byte("SIP/2.0 200 OK\r\n")}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sip") {
			bufs = append(bufs, load(t, e.Name()))
		}
	}
	var m Message
	for _, b := range bufs {
		if n := testing.AllocsPerRun(100, func() { _ = Parse(b, &m) }); n != 0 {
			t.Errorf("Parse(%.20q…) allocates %v times", b, n)
		}
	}
}

func benchParse(b *testing.B, name string) {
	msg := load(b, name)
	var m Message
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := Parse(msg, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRegister(b *testing.B) { benchParse(b, "register.sip") }
func BenchmarkParseInvite(b *testing.B)   { benchParse(b, "invite.sip") }
func BenchmarkParse401(b *testing.B)      { benchParse(b, "401.sip") }
func BenchmarkParse200(b *testing.B)      { benchParse(b, "200.sip") }

// TestParseLabCaptures reads messages captured in the lab from the real
// tools (SIPVicious, sipp, Kamailio's answers).
func TestParseLabCaptures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "lab-*.sip"))
	if err != nil || len(files) < 8 {
		t.Fatalf("captures: %v, %v", files, err)
	}
	for _, name := range files {
		var m Message
		if err := Parse(load(t, filepath.Base(name)), &m); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(m.CallID) == 0 || m.ViaBranch == nil || (m.Request && m.Method == MethodOther) {
			t.Errorf("%s: %+v", name, m)
		}
		if strings.Contains(name, "-auth") && (m.Credentials == NoCredentials || string(m.CredentialsUser) != "1001") {
			t.Errorf("%s: credentials %v %q", name, m.Credentials, m.CredentialsUser)
		}
	}
}
