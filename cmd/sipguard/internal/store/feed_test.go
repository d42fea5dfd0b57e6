package store

import (
	"errors"
	"testing"
	"time"
)

// The live feed reads the events after the last one it has, newest first,
// and nothing twice.
func TestEventsAfter(t *testing.T) {
	s, _ := open(t, Limits{Location: time.UTC})
	at := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	first := []Event{{Time: at, Action: ActionBan, Source: pfx("203.0.113.7/32"), Reason: "flood"}, {Time: at, Action: ActionAlert, Source: pfx("203.0.113.8/32")}}
	if err := s.AppendEvents(first...); err != nil {
		t.Fatal(err)
	}
	got, err := s.EventsAfter("", 10)
	if err != nil || len(got) != 2 || got[0].Action != ActionAlert || got[1].Reason != "flood" || got[0].ID <= got[1].ID {
		t.Fatalf("all: %+v %v", got, err)
	}
	last := got[0].ID
	if got, err := s.EventsAfter(last, 10); err != nil || len(got) != 0 {
		t.Errorf("nothing new: %+v %v", got, err)
	}
	if err := s.AppendEvents(Event{Time: at.Add(time.Second), Action: ActionPermanent, Source: pfx("203.0.113.0/24")}); err != nil {
		t.Fatal(err)
	}
	got, err = s.EventsAfter(last, 10)
	if err != nil || len(got) != 1 || got[0].Action != ActionPermanent || got[0].ID <= last {
		t.Errorf("after %s: %+v %v", last, got, err)
	}
	if got, _ := s.EventsAfter("", 1); len(got) != 1 || got[0].Action != ActionPermanent {
		t.Errorf("limit 1: %+v", got)
	}
	for _, bad := range []string{"zz", "00ff"} {
		if _, err := s.EventsAfter(bad, 10); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// The chart's counts: by hour from the attack log, by day from the daily
// counters.
func TestPeriodsAndDaily(t *testing.T) {
	s, _ := open(t, Limits{Location: time.UTC})
	now := time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC)
	evs := []Event{
		{Time: now.Add(-26 * time.Hour), Action: ActionBan, Reason: "flood"}, // the day before
		{Time: now.Add(-90 * time.Minute), Action: ActionBan, Reason: "flood"},
		{Time: now.Add(-80 * time.Minute), Action: ActionAlert, Reason: "toll"},
		{Time: now.Add(-10 * time.Minute), Action: ActionPermanent},
		{Time: now.Add(-9 * time.Minute), Action: ActionUnban}, // in no count
	}
	if err := s.AppendEvents(evs...); err != nil {
		t.Fatal(err)
	}
	from := now.Truncate(time.Hour).Add(-23 * time.Hour)
	hours, err := s.Periods(from, time.Hour, 24)
	if err != nil || len(hours) != 24 {
		t.Fatal(hours, err)
	}
	total := 0
	for _, h := range hours {
		total += h.Events
	}
	if total != 3 || hours[22].Bans != 1 || hours[22].Alerts != 1 || hours[23].Permanent != 1 {
		t.Errorf("hours: total %d, 09:00 %+v, 10:00 %+v", total, hours[22], hours[23])
	}
	days, tallies, err := s.Daily(now, 7)
	if err != nil || len(days) != 7 || days[6] != "2026-12-06" || days[0] != "2026-11-30" {
		t.Fatal(days, err)
	}
	if tallies[6].Events != 3 || tallies[5].Events != 1 || tallies[5].Bans != 1 || tallies[0].Events != 0 {
		t.Errorf("days %+v", tallies)
	}
}

// BenchmarkPeriods counts a day's attack log by hour, as the overview's
// chart does, with the log at its default bound of 100,000 events.
func BenchmarkPeriods(b *testing.B) {
	s, err := Open(b.TempDir()+"/state.db", Limits{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	from := now.Truncate(time.Hour).Add(-23 * time.Hour)
	const n = 100_000
	for i := 0; i < n; i += 1000 {
		evs := make([]Event, 1000)
		for j := range evs {
			evs[j] = Event{Time: from.Add(time.Duration(i+j) * (23 * time.Hour / n)), Action: ActionBan, Source: pfx("203.0.113.7/32"),
				Reason: "register flood", UserAgent: "friendly-scanner", Country: "NL"}
		}
		if err := s.AppendEvents(evs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		hours, err := s.Periods(from, time.Hour, 24)
		if err != nil || hours[0].Events == 0 {
			b.Fatal(hours, err)
		}
	}
}
