package tollfraud

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

var pbx = netip.MustParseAddr("192.0.2.10")

// calls numbers the Call-IDs of the requests the tests make: each is a
// call of its own.
var calls int

// request parses a request from the PBX: method, Request-URI, calling
// extension; toTag marks a request within a call.
func request(t testing.TB, method, uri, ext string, toTag bool) *sip.Message {
	t.Helper()
	to := "<" + uri + ">"
	if toTag {
		to += ";tag=as1"
	}
	text := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\nFrom: \"Ext\" <sip:%s@192.0.2.10>;tag=f1\r\n"+
		"To: %s\r\nCall-ID: c%d\r\nCSeq: 1 %s\r\nUser-Agent: Asterisk PBX 20\r\nContent-Length: 0\r\n\r\n", method, uri, ext, to, calls, method)
	calls++
	var m sip.Message
	if err := sip.Parse([]byte(text), &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// renumber gives m a Call-ID of its own, numbered i, in place.
func renumber(m *sip.Message, buf []byte, i int) {
	for j := len(buf) - 1; j >= 0; j, i = j-1, i/10 {
		buf[j] = byte('0' + i%10)
	}
	m.CallID = buf
}

func call(t testing.TB, number, ext string) *sip.Message {
	return request(t, "INVITE", "sip:"+number+"@198.51.100.10", ext, false)
}

// rules are the defaults of the configuration file, in UTC, office hours
// on weekdays.
func rules(t testing.TB) Rules {
	t.Helper()
	h, err := ParseHours("Mon-Fri 08:00-18:00")
	if err != nil {
		t.Fatal(err)
	}
	return Rules{Enabled: true, InternationalPrefix: "00", HighRisk: []string{"+882", "+883", "+979", "+53"},
		CallsPerHour: 30, HighRiskPerHour: 0, OfficeHours: h, Location: time.UTC}
}

// recorder collects the alerts.
type recorder struct{ got []sip.Decision }

func (r *recorder) emit(d sip.Decision) { r.got = append(r.got, d) }

func newWatch(t testing.TB, r Rules) (*Watch, *recorder) {
	t.Helper()
	rec := &recorder{}
	w, err := New(r, rec.emit)
	if err != nil {
		t.Fatal(err)
	}
	return w, rec
}

// monday10 is Monday 2026-03-02 10:00 UTC: office hours.
var monday10 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func TestNormalize(t *testing.T) {
	for _, c := range []struct{ user, intl, want string }{
		{"+33 1 23-45.67", "00", "+331234567"},
		{"0033(1)234567", "00", "+331234567"},
		{"011442071234567", "011", "+442071234567"},
		{"00882123", "", "00882123"},
		{"+88212345;phone-context=example.com", "00", "+88212345"},
		{"201", "00", "201"},
		{"%2B882%20123", "00", "%2B882123"}, // an escaped "+" is not read: the PBXes write it bare
		{"00", "00", "00"},                  // the prefix alone is no number yet
		{"*97#", "00", "*97#"},
		{strings.Repeat("1", 40), "", strings.Repeat("1", maxNumber)},
	} {
		var buf [maxNumber]byte
		if got := string(buf[:normalize(&buf, []byte(c.user), c.intl)]); got != c.want {
			t.Errorf("normalize(%q, %q) = %q, want %q", c.user, c.intl, got, c.want)
		}
	}
}

func TestParseHours(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHours("Mon-Fri 08:00-12:00, mon-fri 13:30-18:00, Sat 09:00-12:00, Sun-Sun 23:00-24:00")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 3, 2, 8, 0, 0, 0, paris), true},    // Monday opening
		{time.Date(2026, 3, 2, 7, 59, 59, 0, paris), false}, // a second before
		{time.Date(2026, 3, 2, 12, 30, 0, 0, paris), false}, // lunch
		{time.Date(2026, 3, 6, 17, 59, 0, 0, paris), true},  // Friday
		{time.Date(2026, 3, 6, 18, 0, 0, 0, paris), false},  // closing
		{time.Date(2026, 3, 7, 10, 0, 0, 0, paris), true},   // Saturday morning
		{time.Date(2026, 3, 7, 14, 0, 0, 0, paris), false},
		{time.Date(2026, 3, 8, 23, 30, 0, 0, paris), true}, // Sunday late
		// The same instant read in UTC is an hour earlier: 07:30, closed.
		{time.Date(2026, 3, 2, 8, 30, 0, 0, paris).UTC(), false},
		{time.Date(2026, 3, 2, 8, 30, 0, 0, paris), true},
	} {
		if got := h.Contains(c.at); got != c.want {
			t.Errorf("%v (%v): office hours %v, want %v", c.at, c.at.Weekday(), got, c.want)
		}
	}
	wrap, err := ParseHours("Fri-Mon 10:00-11:00")
	if err != nil {
		t.Fatal(err)
	}
	for day, want := range map[int]bool{1: true, 2: true, 3: false, 5: false, 6: true, 7: true} { // 2026-03-01 is a Sunday
		if got := wrap.Contains(time.Date(2026, 3, day, 10, 30, 0, 0, time.UTC)); got != want {
			t.Errorf("Fri-Mon on March %d: %v, want %v", day, got, want)
		}
	}
	always, _ := ParseHours("")
	if !always.Contains(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)) {
		t.Error("no office hours: every time is office time")
	}
	for _, bad := range []string{"Mon-Fri", "Mon-Fri 8:00-18:00", "Mon-Fri 18:00-08:00", "Mon-Fry 08:00-18:00",
		"Mon-Fri 08:00-24:01", "Mon-Fri 08:60-09:00", "Mon-Fri 08:00", "Mon-Fri 08:00-18:00,"} {
		if _, err := ParseHours(bad); err == nil {
			t.Errorf("ParseHours(%q) accepted", bad)
		}
	}
}

// An extension may make its budget of calls an hour; the next raises one
// alert naming it and the number, and no more that hour.
func TestBudget(t *testing.T) {
	r := rules(t)
	r.CallsPerHour = 3
	w, rec := newWatch(t, r)
	now := monday10
	for i := range 3 {
		w.Observe(now.Add(time.Duration(i)*time.Minute), pbx, call(t, "+33123456", "201"))
	}
	if len(rec.got) != 0 {
		t.Fatalf("alert within the budget: %v", rec.got[0].Event)
	}
	w.Observe(now.Add(3*time.Minute), pbx, call(t, "0033(1)23.45-67", "201"))
	if len(rec.got) != 1 {
		t.Fatalf("%d alerts over the budget, want 1", len(rec.got))
	}
	d := rec.got[0]
	if d.Action != sip.Alert || d.Source != netip.PrefixFrom(pbx, 32) || d.Event.Reason != sip.ReasonTollFraud ||
		d.Event.Extension != "201" || d.Event.Dialled != "+331234567" || d.Event.Count != 4 || d.Event.Addr != pbx ||
		d.Event.UserAgent != "Asterisk PBX 20" {
		t.Errorf("alert: %+v %+v", d, d.Event)
	}
	for i := range 10 {
		w.Observe(now.Add(4*time.Minute+time.Duration(i)*time.Second), pbx, call(t, "+33123456", "201"))
	}
	if len(rec.got) != 1 {
		t.Errorf("%d alerts in the hour, want 1", len(rec.got))
	}
	// Another extension has its own budget.
	w.Observe(now.Add(5*time.Minute), pbx, call(t, "+33999999", "202"))
	if len(rec.got) != 1 {
		t.Errorf("the budget of 201 counted for 202")
	}
	// An hour later the calls have left the window: the budget is whole.
	later := now.Add(70 * time.Minute)
	for i := range 3 {
		w.Observe(later.Add(time.Duration(i)*time.Second), pbx, call(t, "+33123456", "201"))
	}
	if len(rec.got) != 1 {
		t.Errorf("an hour later, calls within the budget alerted: %v", rec.got[len(rec.got)-1].Event)
	}
	exts := w.Extensions(later)
	if len(exts) != 1 || exts[0].Extension != "201" || exts[0].Calls != 3 || exts[0].LastDialled != "+33123456" {
		t.Errorf("extensions an hour later: %+v", exts)
	}
	if st := w.Stats(); st.Calls != 18 || st.Alerts != 1 {
		t.Errorf("stats: %+v", st)
	}
}

// A call to a high-risk destination alerts at once with the default of 0,
// however the PBX writes the number; other requests do not count.
func TestHighRisk(t *testing.T) {
	w, rec := newWatch(t, rules(t))
	w.Observe(monday10, pbx, call(t, "+442071234567", "201"))
	w.Observe(monday10, pbx, request(t, "INVITE", "sip:00882123456@198.51.100.10", "201", true)) // a re-INVITE
	w.Observe(monday10, pbx, request(t, "OPTIONS", "sip:00882123456@198.51.100.10", "201", false))
	w.Observe(monday10, pbx, request(t, "REGISTER", "sip:198.51.100.10", "201", false))
	if len(rec.got) != 0 {
		t.Fatalf("alert: %v", rec.got[0].Event)
	}
	w.Observe(monday10, pbx, request(t, "INVITE", "tel:00-882-123456", "201", false))
	if len(rec.got) != 1 || rec.got[0].Event.Reason != sip.ReasonTollFraud || rec.got[0].Event.Dialled != "+882123456" || rec.got[0].Event.Count != 1 {
		t.Fatalf("high-risk call: %d alerts %v", len(rec.got), rec.got)
	}
	exts := w.Extensions(monday10)
	if len(exts) != 1 || exts[0].Calls != 2 || exts[0].HighRisk != 1 || exts[0].OffHours != 0 {
		t.Errorf("extensions: %+v", exts)
	}

	// With a budget of high-risk calls, the one past it alerts.
	r := rules(t)
	r.HighRiskPerHour = 2
	w, rec = newWatch(t, r)
	for i := range 3 {
		w.Observe(monday10.Add(time.Duration(i)*time.Second), pbx, call(t, "+5355512", "203"))
		if want := i / 2; len(rec.got) != want {
			t.Fatalf("after %d high-risk calls: %d alerts, want %d", i+1, len(rec.got), want)
		}
	}
	// A blocked prefix, as the PBX writes it, counts as high-risk too.
	r = rules(t)
	r.HighRisk, r.Block = nil, []string{"0044909"}
	w, rec = newWatch(t, r)
	w.Observe(monday10, pbx, call(t, "+44909123", "204"))
	if len(rec.got) != 1 {
		t.Errorf("a call to a blocked prefix raised %d alerts", len(rec.got))
	}
}

// Calls outside office hours, in the configured time zone, are counted
// apart: more than a third of the budget in an hour alert.
func TestOffHours(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	r := rules(t)
	r.Location = paris
	w, rec := newWatch(t, r)
	// Monday 07:30 UTC is 08:30 in Paris: office hours there.
	open := time.Date(2026, 3, 2, 7, 30, 0, 0, time.UTC)
	for i := range 15 {
		w.Observe(open.Add(time.Duration(i)*time.Second), pbx, call(t, "+331234", "201"))
	}
	if len(rec.got) != 0 {
		t.Fatalf("office-hours calls alerted: %v", rec.got[0].Event)
	}
	// Saturday 03:00: the 11th call of the hour is one too many.
	night := time.Date(2026, 3, 7, 3, 0, 0, 0, paris)
	for i := range 11 {
		w.Observe(night.Add(time.Duration(i)*time.Minute), pbx, call(t, "+331234", "205"))
		if want := i / 10; len(rec.got) != want {
			t.Fatalf("after %d night calls: %d alerts, want %d", i+1, len(rec.got), want)
		}
	}
	ev := rec.got[0].Event
	if ev.Reason != sip.ReasonOffHoursCalls || ev.Extension != "205" || ev.Count != 11 {
		t.Errorf("off-hours alert: %+v", ev)
	}
	exts := w.Extensions(night.Add(11 * time.Minute))
	if len(exts) != 1 || exts[0].Extension != "205" || exts[0].OffHours != 11 {
		t.Errorf("extensions: %+v", exts)
	}
	// The same calls in UTC's office hours... the Paris watch saw 201's
	// morning calls as office time; a UTC watch sees them before opening.
	r.Location = time.UTC
	w, _ = newWatch(t, r)
	w.Observe(open, pbx, call(t, "+331234", "201"))
	if exts := w.Extensions(open); exts[0].OffHours != 1 {
		t.Errorf("07:30 UTC counted as office time in UTC: %+v", exts)
	}
}

// Many extensions calling one number share the number's budget.
func TestNumberBudget(t *testing.T) {
	r := rules(t)
	r.CallsPerHour = 5
	w, rec := newWatch(t, r)
	for i := range 6 {
		w.Observe(monday10.Add(time.Duration(i)*time.Second), pbx, call(t, "+4470000", fmt.Sprint(300+i)))
	}
	if len(rec.got) != 1 || rec.got[0].Event.Extension != "305" || rec.got[0].Event.Count != 6 || rec.got[0].Event.Dialled != "+4470000" {
		t.Fatalf("one number over its budget: %v", rec.got)
	}
	// A remote phone's extension, called by many callers through the PBX,
	// is not a number being pumped.
	for i := range 10 {
		w.Observe(monday10.Add(time.Duration(i)*time.Second), pbx, call(t, "2001", fmt.Sprint("+3361234500", i)))
	}
	if len(rec.got) != 1 {
		t.Errorf("calls to a remote extension alerted: %v", rec.got[len(rec.got)-1].Event)
	}
}

// A flood of invented extensions neither grows the watch's memory nor
// hides the number it pumps.
func TestBoundedUnderInventedExtensions(t *testing.T) {
	w, rec := newWatch(t, rules(t))
	m := call(t, "+4470000", "x")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	name, id := []byte("ext-00000000"), make([]byte, 8)
	for i := range 200_000 {
		for j, k := len(name)-1, i; j >= 4; j, k = j-1, k/10 {
			name[j] = byte('0' + k%10)
		}
		m.FromUser = name
		renumber(m, id, i)
		w.Observe(monday10.Add(time.Duration(i)*time.Millisecond), pbx, m)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("the heap grew by %d bytes", grew)
	}
	exts := w.Extensions(monday10.Add(200 * time.Second))
	if len(exts) > extSlots {
		t.Errorf("%d extensions kept, the table holds %d", len(exts), extSlots)
	}
	if st := w.Stats(); st.Evicted == 0 || st.Calls != 200_000 {
		t.Errorf("stats: %+v", st)
	}
	// The number's budget caught it, once.
	if len(rec.got) != 1 || rec.got[0].Event.Dialled != "+4470000" {
		t.Errorf("%d alerts, want the number's one", len(rec.got))
	}
}

// Observing allocates nothing for a message that is not a new call, nor
// for a call below the thresholds.
func TestObserveDoesNotAllocate(t *testing.T) {
	w, rec := newWatch(t, rules(t))
	for _, m := range []*sip.Message{
		request(t, "OPTIONS", "sip:+88212@198.51.100.10", "201", false),
		request(t, "INVITE", "sip:+88212@198.51.100.10", "201", true),
		call(t, "+33123456", "201"),
	} {
		now, id, i := monday10, make([]byte, 8), 0
		if n := testing.AllocsPerRun(25, func() { // 25 calls: within the budget of 30
			now, i = now.Add(time.Second), i+1
			renumber(m, id, i)
			w.Observe(now, pbx, m)
		}); n != 0 {
			t.Errorf("%s (To tag %q): %v allocations", m.MethodName, m.ToTag, n)
		}
	}
	if len(rec.got) != 0 {
		t.Errorf("alerts: %v", rec.got[0].Event)
	}
	if st := w.Stats(); st.Calls != 26 { // AllocsPerRun runs once more to warm up
		t.Errorf("%d calls counted, want 26", st.Calls)
	}
}

// An INVITE sent again with its Call-ID, retransmitted or with the
// credentials the carrier asked for, is the same call.
func TestSameCallCountedOnce(t *testing.T) {
	r := rules(t)
	r.CallsPerHour = 1
	w, rec := newWatch(t, r)
	m := call(t, "+33123456", "201")
	for i := range 5 {
		m.CSeq = uint32(1 + i/2)
		w.Observe(monday10.Add(time.Duration(i)*500*time.Millisecond), pbx, m)
	}
	if exts := w.Extensions(monday10.Add(3 * time.Second)); len(exts) != 1 || exts[0].Calls != 1 || len(rec.got) != 0 {
		t.Errorf("one call sent five times: %+v, %d alerts", exts, len(rec.got))
	}
	w.Observe(monday10.Add(3*time.Second), pbx, call(t, "+33123456", "201"))
	if len(rec.got) != 1 {
		t.Errorf("a second call over a budget of 1: %d alerts", len(rec.got))
	}
}

func TestRulesRejected(t *testing.T) {
	for _, c := range []struct {
		change func(*Rules)
		want   string
	}{
		{func(r *Rules) { r.CallsPerHour = 0 }, "calls_per_hour: 0"},
		{func(r *Rules) { r.HighRiskPerHour = -1 }, "high_risk_per_hour: -1"},
		{func(r *Rules) { r.InternationalPrefix = "+" }, "international_prefix"},
		{func(r *Rules) { r.HighRisk = []string{"882"} }, "high_risk[0]"},
		{func(r *Rules) { r.Block = []string{"+882", "sip:1"} }, "block[1]"},
		{func(r *Rules) { r.Block = []string{strings.Repeat("1", netfilter.MaxDialledPrefix+1)} }, "block[0]"},
	} {
		r := rules(t)
		c.change(&r)
		w, _ := newWatch(t, rules(t))
		err := w.SetRules(r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want an error naming %q", err, c.want)
		}
		if got := w.Rules(); got.CallsPerHour != 30 || len(got.Block) != 0 {
			t.Errorf("a rejected change changed the rules: %+v", got)
		}
	}
}

// Disabled, the watch counts nothing.
func TestDisabled(t *testing.T) {
	r := rules(t)
	r.Enabled = false
	w, rec := newWatch(t, r)
	w.Observe(monday10, pbx, call(t, "+882123", "201"))
	if len(rec.got) != 0 || len(w.Extensions(monday10)) != 0 {
		t.Error("a disabled watch counted a call")
	}
}

func BenchmarkObserveInvite(b *testing.B) {
	w, _ := newWatch(b, rules(b))
	m := call(b, "+33123456", "201")
	now, id, i := monday10, make([]byte, 8), 0
	r := w.rules.Load()
	r.CallsPerHour = MaxCallsPerHour
	for b.Loop() {
		now, i = now.Add(time.Millisecond), i+1
		renumber(m, id, i)
		w.Observe(now, pbx, m)
	}
}
