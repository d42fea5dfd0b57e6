package store

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The actions of the attack log's events (the detection's names).
const (
	ActionBan       = "ban"
	ActionPermanent = "permanent"
	ActionAlert     = "alert"
	// ActionUnban is a permanent ban lifted by hand: logged, not an
	// attack, and in no count.
	ActionUnban = "unban"
	// ActionAdmin is a change an administrator made through the dashboard
	// or the HTTPS API, or a refused dashboard login: logged, not an
	// attack.
	ActionAdmin = "admin"
)

// dayLayout names a day of the daily counters, and of the report.
const dayLayout = "2006-01-02"

var bucketDaily = []byte("daily")

// Tally counts attack log events.
type Tally struct {
	Events    int            `json:"events"`            // bans, permanent bans and alerts
	Attacks   map[string]int `json:"attacks,omitempty"` // events of the detection, by reason
	Bans      int            `json:"bans"`              // dynamic bans made
	Permanent int            `json:"permanent"`         // permanent bans made
	Alerts    int            `json:"alerts"`
}

// Add counts one event. An event without a reason (a permanent ban
// because a source reached the block threshold) is a consequence of
// attacks already counted, not an attack of its own.
func (t *Tally) Add(e Event) {
	if e.Action == ActionUnban || e.Action == ActionAdmin {
		return
	}
	t.Events++
	if e.Reason != "" {
		if t.Attacks == nil {
			t.Attacks = map[string]int{}
		}
		t.Attacks[e.Reason]++
	}
	switch e.Action {
	case ActionBan:
		t.Bans++
	case ActionPermanent:
		t.Permanent++
	case ActionAlert:
		t.Alerts++
	}
}

// merge adds o, times sign (1 or -1), to t.
func (t *Tally) merge(o Tally, sign int) {
	t.Events += sign * o.Events
	t.Bans += sign * o.Bans
	t.Permanent += sign * o.Permanent
	t.Alerts += sign * o.Alerts
	for r, n := range o.Attacks {
		if t.Attacks == nil {
			t.Attacks = map[string]int{}
		}
		if t.Attacks[r] += sign * n; t.Attacks[r] == 0 {
			delete(t.Attacks, r)
		}
	}
}

// Count is how many attack events carried one value: a source, a
// User-Agent, an extension.
type Count struct {
	Value   string `json:"value"`
	Count   int    `json:"count"`
	Country string `json:"country,omitempty"` // of a source, when known
}

// Report is the attack report of the period [From, To).
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	Tally
	TopSources    []Count `json:"top_sources"`
	TopUserAgents []Count `json:"top_user_agents"`
	TopExtensions []Count `json:"top_extensions"`
	// Partial says events of the period have aged out of the attack log:
	// the counts of whole days come from the daily counters, the top lists
	// from the events left.
	Partial bool `json:"partial,omitempty"`
}

// Summarize computes the report of [from, to) from events, in any order;
// events outside the period are left out. Each top list holds at most top
// values, the most frequent first.
func Summarize(events []Event, from, to time.Time, top int) Report {
	r := Report{From: from, To: to}
	sources, agents, exts := map[string]int{}, map[string]int{}, map[string]int{}
	countries := map[string]string{} // source → its country, the latest known
	for _, e := range events {
		if e.Time.Before(from) || !e.Time.Before(to) {
			continue
		}
		r.Add(e)
		if e.Reason == "" {
			continue
		}
		if e.Source.IsValid() {
			sources[e.Source.String()]++
			if e.Country != "" {
				countries[e.Source.String()] = e.Country
			}
		}
		if e.UserAgent != "" {
			agents[e.UserAgent]++
		}
		if e.Extension != "" {
			exts[e.Extension]++
		}
	}
	r.TopSources, r.TopUserAgents, r.TopExtensions = topOf(sources, top), topOf(agents, top), topOf(exts, top)
	for i := range r.TopSources {
		r.TopSources[i].Country = countries[r.TopSources[i].Value]
	}
	return r
}

// permanentCountries fills in the country of top sources whose events
// carried none from their permanent ban, when it has one.
func (s *Store) permanentCountries(top []Count) error {
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPermanent)
		for i, c := range top {
			if c.Country != "" {
				continue
			}
			p, err := netip.ParsePrefix(c.Value)
			if err != nil {
				continue
			}
			var ban Ban
			if v := b.Get(key(p)); v != nil && json.Unmarshal(v, &ban) == nil {
				top[i].Country = ban.Country
			}
		}
		return nil
	})
}

// topOf returns the n most frequent values, ties in value order.
func topOf(counts map[string]int, n int) []Count {
	out := make([]Count, 0, len(counts))
	for v, c := range counts {
		out = append(out, Count{Value: v, Count: c})
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Value, b.Value))
	})
	return out[:min(n, len(out))]
}

// countDaily adds events to the daily counters and drops the counters
// older than the limit, in the transaction that appends the events.
func (s *Store) countDaily(tx *bolt.Tx, evs []Event, now time.Time) error {
	b := tx.Bucket(bucketDaily)
	days := map[string]*Tally{}
	for _, e := range evs {
		day := e.Time.In(s.limits.Location).Format(dayLayout)
		t := days[day]
		if t == nil {
			old, err := readTally(b, day)
			if err != nil {
				return err
			}
			t = &old
			days[day] = t
		}
		t.Add(e)
	}
	for day, t := range days {
		v, err := json.Marshal(t)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(day), v); err != nil {
			return err
		}
	}
	oldest := []byte(now.In(s.limits.Location).AddDate(0, 0, -s.limits.MaxDays).Format(dayLayout))
	c := b.Cursor()
	for k, _ := c.First(); k != nil && string(k) < string(oldest); k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// readTally reads a day's counters. Counters that cannot be decoded count
// as none: the next event of the day writes them anew.
func readTally(b *bolt.Bucket, day string) (Tally, error) {
	var t Tally
	if v := b.Get([]byte(day)); v != nil {
		if json.Unmarshal(v, &t) != nil {
			return Tally{}, nil
		}
	}
	return t, nil
}

// Day returns the bounds of a day written YYYY-MM-DD, in the time zone of
// the daily counters.
func (s *Store) Day(date string) (from, to time.Time, err error) {
	from, err = time.ParseInLocation(dayLayout, date, s.limits.Location)
	if err != nil {
		return from, to, fmt.Errorf("%w: day %q: want YYYY-MM-DD", ErrInvalid, date)
	}
	return from, from.AddDate(0, 0, 1), nil
}

// Report computes the attack report of [from, to) from the attack log.
// For every whole day of the period whose events have partly aged out of
// the log, the daily counters give the counts, and the report is marked
// partial.
func (s *Store) Report(from, to time.Time, top int) (Report, error) {
	if !from.Before(to) {
		return Report{}, fmt.Errorf("%w: the report's period ends before it starts", ErrInvalid)
	}
	var evs []Event
	stored := map[string]Tally{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		end := uint64(to.UnixNano())
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, uint64(max(0, from.UnixNano())))); k != nil && (len(k) < 8 || binary.BigEndian.Uint64(k) < end); k, v = c.Next() {
			var e Event
			if len(k) != 16 || json.Unmarshal(v, &e) != nil {
				continue // counted by Open, passed over
			}
			evs = append(evs, e)
		}
		daily := tx.Bucket(bucketDaily)
		for _, day := range s.wholeDays(from, to) {
			t, err := readTally(daily, day)
			if err != nil {
				return err
			}
			stored[day] = t
		}
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	r := Summarize(evs, from, to, top)
	if err := s.permanentCountries(r.TopSources); err != nil {
		return Report{}, err
	}
	logged := map[string]*Tally{}
	for _, e := range evs {
		day := e.Time.In(s.limits.Location).Format(dayLayout)
		if _, whole := stored[day]; whole {
			if logged[day] == nil {
				logged[day] = &Tally{}
			}
			logged[day].Add(e)
		}
	}
	for _, day := range slices.Sorted(maps.Keys(stored)) {
		var fromLog Tally
		if t := logged[day]; t != nil {
			fromLog = *t
		}
		if c := stored[day]; c.Events > fromLog.Events {
			r.merge(fromLog, -1)
			r.merge(c, 1)
			r.Partial = true
		}
	}
	return r, nil
}

// wholeDays names the days lying wholly inside [from, to).
func (s *Store) wholeDays(from, to time.Time) []string {
	loc := s.limits.Location
	f := from.In(loc)
	day := time.Date(f.Year(), f.Month(), f.Day(), 0, 0, 0, 0, loc)
	if day.Before(from) {
		day = day.AddDate(0, 0, 1)
	}
	var out []string
	for next := day.AddDate(0, 0, 1); !next.After(to); day, next = next, next.AddDate(0, 0, 1) {
		out = append(out, day.Format(dayLayout))
	}
	return out
}
