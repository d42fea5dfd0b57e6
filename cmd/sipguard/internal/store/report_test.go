package store

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var day1 = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

// attackLog is a fake attack log: a scanner, a brute force that reached
// the block threshold, an alert, and events outside the day.
func attackLog() []Event {
	at := func(h int) time.Time { return day1.Add(time.Duration(h) * time.Hour) }
	scanner := Event{Action: ActionBan, Source: pfx("203.0.113.66/32"), Reason: "scanner User-Agent", UserAgent: "friendly-scanner"}
	brute := Event{Action: ActionBan, Source: pfx("2001:db8:bad:1::/64"), Reason: "REGISTER brute force", UserAgent: "Asterisk PBX", Extension: "1001"}
	var evs []Event
	for i, e := range []Event{scanner, brute, brute, scanner, brute} {
		e.Time = at(i + 1)
		evs = append(evs, e)
	}
	evs = append(evs,
		Event{Time: at(7), Action: ActionPermanent, Source: brute.Source, Count: 3}, // the threshold: no reason of its own
		Event{Time: at(8), Action: ActionAlert, Source: pfx("198.51.100.7/32"), Reason: "failures from a source that registered successfully", Extension: "1009"},
		Event{Time: at(-1), Action: ActionBan, Source: pfx("192.0.2.1/32"), Reason: "request flood"}, // the day before
		Event{Time: at(24), Action: ActionBan, Source: pfx("192.0.2.1/32"), Reason: "request flood"}, // the next day
	)
	return evs
}

func TestSummarize(t *testing.T) {
	r := Summarize(attackLog(), day1, day1.AddDate(0, 0, 1), 1)
	want := Tally{
		Events:    7,
		Attacks:   map[string]int{"scanner User-Agent": 2, "REGISTER brute force": 3, "failures from a source that registered successfully": 1},
		Bans:      5,
		Permanent: 1,
		Alerts:    1,
	}
	if !reflect.DeepEqual(r.Tally, want) {
		t.Errorf("tally %+v\nwant  %+v", r.Tally, want)
	}
	if want := []Count{{Value: "2001:db8:bad:1::/64", Count: 3}}; !reflect.DeepEqual(r.TopSources, want) {
		t.Errorf("top sources %+v, want %+v (at most 1)", r.TopSources, want)
	}
	r = Summarize(attackLog(), day1, day1.AddDate(0, 0, 1), 10)
	if want := []Count{{Value: "Asterisk PBX", Count: 3}, {Value: "friendly-scanner", Count: 2}}; !reflect.DeepEqual(r.TopUserAgents, want) {
		t.Errorf("top User-Agents %+v, want %+v", r.TopUserAgents, want)
	}
	// Ties are in value order; the alert's extension counts too.
	if want := []Count{{Value: "1001", Count: 3}, {Value: "1009", Count: 1}}; !reflect.DeepEqual(r.TopExtensions, want) {
		t.Errorf("top extensions %+v, want %+v", r.TopExtensions, want)
	}
	if len(r.TopSources) != 3 || r.TopSources[2].Value != "198.51.100.7/32" {
		t.Errorf("top sources %+v", r.TopSources)
	}
	if empty := Summarize(nil, day1, day1.AddDate(0, 0, 1), 10); empty.Events != 0 || empty.TopSources == nil || len(empty.TopSources) != 0 {
		t.Errorf("report of no events: %+v", empty)
	}
}

// A past day's report stays right after its events age out of the
// bounded log: the daily counters hold the counts.
func TestReportOutlivesTheLog(t *testing.T) {
	s, _ := open(t, Limits{MaxEvents: 4, Location: time.UTC})
	evs := attackLog()
	for _, e := range evs { // one batch per event, as the daemon writes them
		if err := s.AppendEvents(e); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Events(100); len(got) != 4 {
		t.Fatalf("%d events kept, want the log's limit of 4", len(got))
	}
	from, to, err := s.Day("2026-11-24")
	if err != nil || !from.Equal(day1) || !to.Equal(day1.AddDate(0, 0, 1)) {
		t.Fatalf("Day = %v %v %v", from, to, err)
	}
	r, err := s.Report(from, to, 10)
	if err != nil {
		t.Fatal(err)
	}
	full := Summarize(evs, from, to, 10)
	if !reflect.DeepEqual(r.Tally, full.Tally) || !r.Partial {
		t.Errorf("report of a day partly aged out:\n%+v (partial %v)\nwant %+v, partial", r.Tally, r.Partial, full.Tally)
	}
	// The top lists come from the events left: the last three of the day.
	if want := []Count{{Value: "198.51.100.7/32", Count: 1}, {Value: "2001:db8:bad:1::/64", Count: 1}}; !reflect.DeepEqual(r.TopSources, want) {
		t.Errorf("top sources %+v, want %+v", r.TopSources, want)
	}
	// A period that is not whole days counts the log's events alone.
	r, err = s.Report(day1.Add(7*time.Hour), day1.Add(25*time.Hour), 10)
	if err != nil || r.Events != 3 || r.Partial || r.Attacks["request flood"] != 1 || r.Permanent != 1 {
		t.Errorf("report since 07:00: %+v, %v", r, err)
	}
	for _, bad := range []string{"24/11/2026", "2026-13-01", ""} {
		if _, _, err := s.Day(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Day(%q): %v", bad, err)
		}
	}
	if _, err := s.Report(to, from, 10); !errors.Is(err, ErrInvalid) {
		t.Errorf("a period ending before it starts: %v", err)
	}
}

func TestDailyCountersBounded(t *testing.T) {
	s, _ := open(t, Limits{MaxDays: 30, Location: time.UTC})
	now := time.Now().UTC()
	if err := s.AppendEvents(Event{Time: now.AddDate(0, 0, -31), Action: ActionBan, Reason: "request flood"}, Event{Time: now, Action: ActionBan, Reason: "request flood"}); err != nil {
		t.Fatal(err)
	}
	var days []string
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDaily).ForEach(func(k, _ []byte) error { days = append(days, string(k)); return nil })
	})
	if len(days) != 1 || days[0] != now.Format(dayLayout) {
		t.Errorf("daily counters kept for %v, want today's alone", days)
	}
}

func TestDynamicBansKeepTheirReason(t *testing.T) {
	s, _ := open(t, Limits{})
	now := time.Now()
	src := pfx("203.0.113.66/32")
	if err := s.SetDynamic(Ban{Prefix: src, Until: now.Add(time.Minute), Reason: "scanner User-Agent", UserAgent: "friendly-scanner"}); err != nil {
		t.Fatal(err)
	}
	// Extended while the source keeps sending: no reason given, the first kept.
	if err := s.SetDynamic(Ban{Prefix: src, Until: now.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	// A ban as written before reasons were kept: the end time alone.
	old := pfx("192.0.2.9/32")
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDynamic).Put(key(old), binary.BigEndian.AppendUint64(nil, uint64(now.Add(time.Hour).UnixNano())))
	}); err != nil {
		t.Fatal(err)
	}
	ds, err := s.DynamicBans(now)
	if err != nil || len(ds) != 2 {
		t.Fatalf("DynamicBans = %+v, %v", ds, err)
	}
	if d := ds[1]; d.Prefix != src || d.Reason != "scanner User-Agent" || d.UserAgent != "friendly-scanner" || !d.Until.Equal(now.Add(10*time.Minute)) {
		t.Errorf("extended ban %+v", d)
	}
	if d := ds[0]; d.Prefix != old || !d.Until.Equal(now.Add(time.Hour)) || d.Reason != "" {
		t.Errorf("old-format ban %+v", d)
	}
	// Reading ended bans neither lists them nor forgets them.
	if ds, _ := s.DynamicBans(now.Add(2 * time.Hour)); len(ds) != 0 {
		t.Errorf("ended bans listed: %+v", ds)
	}
	if ds, _ := s.Dynamics(now); len(ds) != 2 {
		t.Errorf("DynamicBans forgot bans: %+v", ds)
	}
}
