package sip

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	sipgo "github.com/emiago/sipgo/sip"
)

// FuzzParse checks, on any input, that Parse neither panics nor allocates,
// that what it returns points into the input, and that where
// emiago/sipgo (a general-purpose SIP stack) also accepts the message, both
// read the same Call-ID, CSeq and status.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.sip"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		err := Parse(b, &m)
		if n := testing.AllocsPerRun(20, func() { _ = Parse(b, &m) }); n != 0 { // 20 runs: the fuzzing engine allocates beside us
			t.Fatalf("Parse allocated %v times", n)
		}
		if err != nil {
			return
		}
		for _, s := range [][]byte{m.MethodName, m.RequestURI, m.URIUser, m.Reason, m.FromUser, m.FromTag, m.ToUser,
			m.ToTag, m.CallID, m.ViaBranch, m.ViaSentBy, m.UserAgent, m.Server, m.Contact, m.CredentialsUser} {
			if !within(s, b) {
				t.Fatalf("field %q does not point into the input", s)
			}
		}
		if m.BodyOffset < 0 || m.BodyOffset > len(b) || len(m.CallID) == 0 || (!m.Request && (m.Status < 100 || m.Status > 699)) {
			t.Fatalf("inconsistent message: %+v", m)
		}
		if bareLF(b[:m.BodyOffset]) {
			return // sipguard, like Kamailio and PJSIP, ends lines at a bare LF; sipgo does not
		}
		if repeats(b[:m.BodyOffset], hdrCallID) || repeats(b[:m.BodyOffset], hdrCSeq) {
			return // of a repeated header sipguard, like Kamailio and Asterisk, reads the first; sipgo the last
		}
		other, err := sipgo.ParseMessage(b)
		if err != nil {
			return // sipgo is stricter or laxer here and there: only agreement counts
		}
		// A Call-ID is one word: sipguard keeps a folded one as written and
		// compares Call-IDs without blanks, sipgo unfolds it.
		if id := other.CallID(); id != nil && strings.Join(strings.Fields(id.Value()), "") != strings.Join(strings.Fields(string(m.CallID)), "") {
			t.Errorf("Call-ID: sipgo %q, sipguard %q", id.Value(), m.CallID)
		}
		if cs := other.CSeq(); cs != nil && cs.SeqNo != m.CSeq {
			t.Errorf("CSeq: sipgo %d, sipguard %d", cs.SeqNo, m.CSeq)
		}
		if res, ok := other.(*sipgo.Response); ok && res.StatusCode != m.Status {
			t.Errorf("status: sipgo %d, sipguard %d", res.StatusCode, m.Status)
		}
	})
}

func bareLF(b []byte) bool {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

// repeats reports whether header h appears on more than one line.
func repeats(head []byte, h header) bool {
	n := 0
	for _, line := range bytes.Split(head, []byte("\n")) {
		name, _, ok := bytes.Cut(line, []byte(":"))
		if ok && headerOf(bytes.TrimSpace(name)) == h {
			n++
		}
	}
	return n > 1
}

// within reports whether s is nil or a sub-slice of b.
func within(s, b []byte) bool {
	if s == nil {
		return true
	}
	if len(b) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= start && p+uintptr(len(s)) <= start+uintptr(len(b))
}

// BenchmarkSipgoParseRegister is the reference: the same REGISTER through
// emiago/sipgo's parser.
func BenchmarkSipgoParseRegister(b *testing.B) {
	msg := load(b, "register.sip")
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := sipgo.ParseMessage(bytes.Clone(msg)); err != nil {
			b.Fatal(err)
		}
	}
}
