package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Logged is an event of the attack log with its place in it: ID orders
// the events (a later event has a greater ID) and names the event to read
// on after, as a live feed does.
type Logged struct {
	ID string `json:"id"`
	Event
}

// EventsAfter returns up to limit events logged after the event named
// after (every event when after is empty), newest first. An ID that is not
// one of the log's is refused (ErrInvalid).
func (s *Store) EventsAfter(after string, limit int) ([]Logged, error) {
	var from []byte
	if after != "" {
		k, err := hex.DecodeString(after)
		if err != nil || len(k) != 16 {
			return nil, fmt.Errorf("%w: %q is not an event ID", ErrInvalid, after)
		}
		from = k
	}
	var out []Logged
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			if from != nil && string(k) <= string(from) {
				break
			}
			var e Event
			if len(k) != 16 || json.Unmarshal(v, &e) != nil {
				continue
			}
			out = append(out, Logged{ID: hex.EncodeToString(k), Event: e})
		}
		return nil
	})
	return out, err
}

// Periods counts the events of n periods of step each, the first starting
// at from, from the attack log: events, bans, permanent bans and alerts,
// not the attacks by reason. It reads only each event's action, not the
// whole event: the overview's chart reads a day of a log under attack.
func (s *Store) Periods(from time.Time, step time.Duration, n int) ([]Tally, error) {
	out := make([]Tally, n)
	end := from.Add(time.Duration(n) * step)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, uint64(max(0, from.UnixNano())))); k != nil; k, v = c.Next() {
			if len(k) != 16 {
				continue
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(k)))
			if !at.Before(end) {
				break
			}
			if i := int(at.Sub(from) / step); i >= 0 && i < n {
				out[i].Add(Event{Action: actionOf(v)})
			}
		}
		return nil
	})
	return out, err
}

// Daily returns the daily counters of the n days ending with the day
// holding now, oldest first, each with its date (YYYY-MM-DD in the
// counters' time zone); a day without events counts none.
func (s *Store) Daily(now time.Time, n int) ([]string, []Tally, error) {
	now = now.In(s.limits.Location)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.limits.Location)
	days := make([]string, n)
	out := make([]Tally, n)
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDaily)
		for i := range n {
			days[i] = today.AddDate(0, 0, i-n+1).Format(dayLayout)
			t, err := readTally(b, days[i])
			if err != nil {
				return err
			}
			out[i] = t
		}
		return nil
	})
	return days, out, err
}

// actionKey starts an event's action in its JSON.
var actionKey = []byte(`"action":"`)

// actionOf reads the action of an event's JSON without decoding the rest;
// "" if there is none.
func actionOf(v []byte) string {
	i := bytes.Index(v, actionKey)
	if i < 0 {
		return ""
	}
	v = v[i+len(actionKey):]
	j := bytes.IndexByte(v, '"')
	if j < 0 {
		return ""
	}
	return string(v[:j])
}
