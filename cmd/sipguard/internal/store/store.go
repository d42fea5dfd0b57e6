// Package store keeps the box's state on the SD card: the allow and deny
// lists, the permanent bans, the ban history that the block threshold
// counts, and the attack log.
//
// It is a bbolt file: every change is one transaction, written with
// copy-on-write and an fsync at commit, so a power cut or a SIGKILL at any
// moment leaves either the old state or the new one, never a mix. Callers
// batch their changes (a list import, a second of bans) into one call: the
// card is written rarely. The attack log is bounded by count and age,
// trimmed in the transaction that appends to it; daily counters of the
// events (by reason, bans) outlive it, so the report of a past day stays
// right.
package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// List names a list of addresses and networks.
type List string

const (
	Allow List = "allow"
	Deny  List = "deny"
)

// Entry is one address or network on a list.
type Entry struct {
	Prefix netip.Prefix `json:"-"`
	Note   string       `json:"note,omitempty"`
	Added  time.Time    `json:"added"`
	By     string       `json:"by,omitempty"`
}

// Ban is a ban the state file keeps, and why it was made: a dynamic one
// (Until set), so that it outlives a reboot (which empties the kernel) and
// the dynamic list can show its reason, or a permanent one (At set).
type Ban struct {
	Prefix    netip.Prefix `json:"-"`
	Until     time.Time    `json:"until,omitzero"` // a dynamic ban's end
	At        time.Time    `json:"at,omitzero"`    // when a permanent ban was made
	Reason    string       `json:"reason,omitempty"`
	UserAgent string       `json:"user_agent,omitempty"`
	Bans      int          `json:"bans,omitempty"`    // dynamic bans of the source, this one included
	Country   string       `json:"country,omitempty"` // ISO 3166 code, when known
}

// Event is one entry of the attack log: a ban or an alert.
type Event struct {
	Time      time.Time    `json:"time"`
	Action    string       `json:"action"`
	Source    netip.Prefix `json:"source"`
	Addr      netip.Addr   `json:"addr"`
	Reason    string       `json:"reason"`
	Count     int          `json:"count,omitempty"`
	UserAgent string       `json:"user_agent,omitempty"`
	Extension string       `json:"extension,omitempty"`
	Dialled   string       `json:"dialled,omitempty"` // the number an outbound call dialled (toll fraud)
	Country   string       `json:"country,omitempty"` // of the source, when known
}

// Limits bound the attack log and its daily counters.
type Limits struct {
	MaxEvents int // newest kept; 0: 100,000
	// MaxHistory bounds the sources whose ban counts are kept; 0: 100,000.
	// Beyond, the least deserved are forgotten: one ban, the oldest first.
	MaxHistory int
	MaxAge     time.Duration  // older dropped; 0: 90 days
	MaxDays    int            // days of daily counters kept; 0: 400
	Location   *time.Location // the time zone of the days; nil: the system's
}

// Store is the open state file. Its methods are safe for concurrent use.
type Store struct {
	db      *bolt.DB
	limits  Limits
	skipped int // records Open could not decode

	historyEvicted atomic.Uint64
	watch          func([]Event) // told of the events of each commit; nil: none
}

var (
	bucketAllow     = []byte("allow")
	bucketDeny      = []byte("deny")
	bucketPermanent = []byte("permanent")
	bucketHistory   = []byte("history")
	bucketEvents    = []byte("events")
	bucketDynamic   = []byte("dynamic")
	bucketMeta      = []byte("meta")
	bucketAuth      = []byte("auth")
	bucketTokens    = []byte("tokens")
	keyEventCount   = []byte("events")
)

// ErrInvalid marks bad input: nothing was written.
var ErrInvalid = errors.New("invalid")

// Open opens (or creates) the state file at path and reads it through
// once: a file that bbolt cannot open, or whose pages cannot be walked, is
// ErrDamaged (a damaged page may make bbolt panic or fault; Open turns that
// into the error); another process holding the file is ErrLocked. A record
// that cannot be decoded does not make the file unusable: it is counted
// (Skipped) and the readers pass over it.
func Open(path string, l Limits) (*Store, error) {
	if l.MaxEvents <= 0 {
		l.MaxEvents = 100_000
	}
	if l.MaxHistory <= 0 {
		l.MaxHistory = 100_000
	}
	if l.MaxAge <= 0 {
		l.MaxAge = 90 * 24 * time.Hour
	}
	if l.MaxDays <= 0 {
		l.MaxDays = 400
	}
	if l.Location == nil {
		l.Location = time.Local
	}
	var (
		db      *bolt.DB
		skipped int
	)
	err := guard(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait})
		if err != nil {
			return err
		}
		if skipped, err = verify(db); err != nil {
			return err
		}
		return db.Update(func(tx *bolt.Tx) error {
			for _, b := range buckets() {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		if db != nil {
			closeQuietly(db)
		}
		return nil, fmt.Errorf("open state %s: %w", path, classify(err))
	}
	return &Store{db: db, limits: l, skipped: skipped}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

func buckets() [][]byte {
	return [][]byte{bucketAllow, bucketDeny, bucketPermanent, bucketHistory, bucketEvents, bucketDynamic, bucketMeta, bucketDaily, bucketAuth, bucketTokens}
}

// Wipe empties the store, in one transaction: the factory reset. The
// dashboard's password and API tokens go with the rest.
func (s *Store) Wipe() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets() {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("wipe state: %w", err)
	}
	return nil
}

func listBucket(l List) ([]byte, error) {
	switch l {
	case Allow:
		return bucketAllow, nil
	case Deny:
		return bucketDeny, nil
	}
	return nil, fmt.Errorf("%w: no list %q", ErrInvalid, l)
}

// key is a prefix's canonical text: the same network is one key however it
// was written.
func key(p netip.Prefix) []byte { return []byte(p.Masked().String()) }

func checkPrefix(i int, p netip.Prefix) error {
	if !p.IsValid() {
		return fmt.Errorf("%w: entry %d: not an address or network", ErrInvalid, i+1)
	}
	return nil
}

// Add puts entries on a list in one transaction; an entry already there is
// replaced (its note and date updated). If any entry is invalid nothing is
// written.
func (s *Store) Add(l List, entries ...Entry) error {
	name, err := listBucket(l)
	if err != nil {
		return err
	}
	for i, e := range entries {
		if err := checkPrefix(i, e.Prefix); err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(name)
		for _, e := range entries {
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := b.Put(key(e.Prefix), v); err != nil {
				return fmt.Errorf("add %v to %s: %w", e.Prefix, l, err)
			}
		}
		return nil
	})
}

// Remove takes prefixes off a list in one transaction and returns how many
// were there.
func (s *Store) Remove(l List, prefixes ...netip.Prefix) (int, error) {
	name, err := listBucket(l)
	if err != nil {
		return 0, err
	}
	return s.remove(name, prefixes)
}

// remove deletes prefixes from a bucket in one transaction and returns how
// many were there.
func (s *Store) remove(bucket []byte, prefixes []netip.Prefix) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, p := range prefixes {
			if b.Get(key(p)) != nil {
				n++
				if err := b.Delete(key(p)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return n, err
}

// Clear empties a list and returns how many entries it held.
func (s *Store) Clear(l List) (int, error) {
	name, err := listBucket(l)
	if err != nil {
		return 0, err
	}
	n := 0
	err = s.db.Update(func(tx *bolt.Tx) error {
		n = tx.Bucket(name).Stats().KeyN
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
		_, err := tx.CreateBucket(name)
		return err
	})
	return n, err
}

// Entries returns a list, in address order.
func (s *Store) Entries(l List) ([]Entry, error) {
	name, err := listBucket(l)
	if err != nil {
		return nil, err
	}
	return readAll(s.db, name, func(e *Entry, p netip.Prefix) { e.Prefix = p })
}

// AddPermanent records permanent bans, in one transaction.
func (s *Store) AddPermanent(ps ...Ban) error {
	for i, p := range ps {
		if err := checkPrefix(i, p.Prefix); err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error { return putPermanent(tx, ps) })
}

func putPermanent(tx *bolt.Tx, ps []Ban) error {
	b := tx.Bucket(bucketPermanent)
	for _, p := range ps {
		v, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if err := b.Put(key(p.Prefix), v); err != nil {
			return err
		}
	}
	return nil
}

// RemovePermanent lifts permanent bans and returns how many there were.
func (s *Store) RemovePermanent(prefixes ...netip.Prefix) (int, error) {
	return s.remove(bucketPermanent, prefixes)
}

// LiftPermanent lifts permanent bans by hand, in one transaction: the
// bans go, the sources' ban history and any dynamic ban of theirs are
// forgotten (the next dynamic ban counts from one), and evs go to the
// attack log. It returns how many of the prefixes were banned.
func (s *Store) LiftPermanent(prefixes []netip.Prefix, evs []Event) (int, error) {
	for i, p := range prefixes {
		if err := checkPrefix(i, p); err != nil {
			return 0, err
		}
	}
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		perm, hist, dyn := tx.Bucket(bucketPermanent), tx.Bucket(bucketHistory), tx.Bucket(bucketDynamic)
		for _, p := range prefixes {
			k := key(p)
			if perm.Get(k) != nil {
				n++
				if err := perm.Delete(k); err != nil {
					return err
				}
			}
			if hist.Get(k) != nil {
				if err := hist.Delete(k); err != nil {
					return err
				}
				if err := hist.SetSequence(max(hist.Sequence(), 1) - 1); err != nil {
					return err
				}
			}
			if err := dyn.Delete(k); err != nil {
				return err
			}
		}
		return s.appendEvents(tx, evs)
	})
	if err != nil {
		return 0, fmt.Errorf("lift permanent bans: %w", err)
	}
	return n, nil
}

// FillCountries sets the country of the permanent bans stored without
// one, from country (which returns "" when it does not know), in one
// transaction, and returns the permanent bans as Permanents does. A file
// whose bans all have their country is not written.
func (s *Store) FillCountries(country func(netip.Addr) string) ([]Ban, error) {
	perms, err := s.Permanents()
	if err != nil {
		return nil, err
	}
	var filled []Ban
	for i, p := range perms {
		if p.Country != "" {
			continue
		}
		if c := country(p.Prefix.Addr()); c != "" {
			perms[i].Country = c
			filled = append(filled, perms[i])
		}
	}
	if len(filled) > 0 {
		if err := s.db.Update(func(tx *bolt.Tx) error { return putPermanent(tx, filled) }); err != nil {
			return perms, fmt.Errorf("record the countries of permanent bans: %w", err)
		}
	}
	return perms, nil
}

// Permanents returns the permanent bans, in address order.
func (s *Store) Permanents() ([]Ban, error) {
	return readAll(s.db, bucketPermanent, func(p *Ban, pr netip.Prefix) { p.Prefix = pr })
}

// readAll decodes every JSON value of a bucket keyed by prefix, in key
// order, setting each one's prefix from its key. A record that cannot be
// decoded is passed over (Open counted it).
func readAll[T any](db *bolt.DB, bucket []byte, setPrefix func(*T, netip.Prefix)) ([]T, error) {
	var out []T
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			item, p, err := decodeKeyed[T](k, v)
			if err != nil {
				return nil
			}
			setPrefix(&item, p)
			out = append(out, item)
			return nil
		})
	})
	return out, err
}

// decodeKeyed decodes one record keyed by prefix.
func decodeKeyed[T any](k, v []byte) (T, netip.Prefix, error) {
	var item T
	p, err := netip.ParsePrefix(string(k))
	if err != nil {
		return item, p, err
	}
	if err := json.Unmarshal(v, &item); err != nil {
		return item, p, err
	}
	return item, p, nil
}

// History is a source's ban history: how many dynamic bans it has had,
// and when the last one was made (zero when unknown: records written
// before it was kept).
type History struct {
	Count int
	Last  time.Time
}

// Decayed returns the count as the block threshold sees it at now: one
// ban is forgiven for every full decay since the last one. A decay of 0,
// or an unknown last ban, forgives nothing.
func (h History) Decayed(now time.Time, decay time.Duration) int {
	if decay <= 0 || h.Last.IsZero() || h.Count == 0 {
		return h.Count
	}
	since := now.Sub(h.Last)
	if since < decay {
		return h.Count
	}
	return max(0, h.Count-int(min(since/decay, time.Duration(h.Count))))
}

// BanHistory returns each source's ban history, as RecordBans kept it
// (zero for a source never banned). It only reads.
func (s *Store) BanHistory(sources ...netip.Prefix) ([]History, error) {
	out := make([]History, len(sources))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHistory)
		for i, p := range sources {
			n, last := decodeHistory(b.Get(key(p)))
			out[i].Count = n
			if last != 0 {
				out[i].Last = time.Unix(int64(last), 0)
			}
		}
		return nil
	})
	return out, err
}

// BanCounts returns how many dynamic bans each source has had, as
// RecordBans counted them (0 for a source never banned), before any
// forgiveness. It only reads.
func (s *Store) BanCounts(sources ...netip.Prefix) ([]int, error) {
	counts := make([]int, len(sources))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHistory)
		for i, p := range sources {
			counts[i], _ = decodeHistory(b.Get(key(p)))
		}
		return nil
	})
	return counts, err
}

// decodeHistory reads a ban history record: the count, and when the last
// ban was (Unix seconds; 0 in records written before it was kept).
func decodeHistory(v []byte) (count int, last uint32) {
	switch len(v) {
	case 4:
		return int(binary.BigEndian.Uint32(v)), 0
	case 8:
		return int(binary.BigEndian.Uint32(v)), binary.BigEndian.Uint32(v[4:])
	}
	return 0, 0
}

// HistoryEvicted returns how many sources' ban counts were forgotten to
// keep the history within its bound, since the file was opened.
func (s *Store) HistoryEvicted() uint64 { return s.historyEvicted.Load() }

// pruneHistory forgets the least deserved ban counts once the history
// holds more than MaxHistory sources, down to nine tenths of it: sources
// banned once before those banned more, the longest ago first. The
// bucket's sequence counts the sources, so the pass over them runs once
// every tenth of the bound of new sources; it sets the count right too.
func (s *Store) pruneHistory(b *bolt.Bucket) error {
	if b.Sequence() <= uint64(s.limits.MaxHistory) {
		return nil
	}
	type rec struct {
		k     []byte
		count int
		last  uint32
	}
	var all []rec
	if err := b.ForEach(func(k, v []byte) error {
		n, last := decodeHistory(v)
		all = append(all, rec{k, n, last})
		return nil
	}); err != nil {
		return err
	}
	target := s.limits.MaxHistory * 9 / 10
	if len(all) > s.limits.MaxHistory {
		slices.SortFunc(all, func(a, b rec) int {
			if c := cmp.Compare(a.count, b.count); c != 0 {
				return c
			}
			return cmp.Compare(a.last, b.last)
		})
		drop := all[:len(all)-target]
		for _, r := range drop {
			if err := b.Delete(r.k); err != nil {
				return err
			}
		}
		s.historyEvicted.Add(uint64(len(drop)))
		all = all[len(drop):]
	}
	return b.SetSequence(uint64(len(all)))
}

// RecordBans counts one more dynamic ban for each source, in one
// transaction, and returns each source's total: the block threshold counts
// across restarts. A source's count is first forgiven one ban for every
// full decay since its last ban (0: never).
func (s *Store) RecordBans(decay time.Duration, sources ...netip.Prefix) ([]int, error) {
	return s.recordBans(time.Now(), decay, sources)
}

func (s *Store) recordBans(at time.Time, decay time.Duration, sources []netip.Prefix) ([]int, error) {
	counts := make([]int, len(sources))
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHistory)
		now := uint32(at.Unix())
		for i, p := range sources {
			v := b.Get(key(p))
			if v == nil {
				if err := b.SetSequence(b.Sequence() + 1); err != nil {
					return err
				}
			}
			h := History{}
			n, last := decodeHistory(v)
			h.Count = n
			if last != 0 {
				h.Last = time.Unix(int64(last), 0)
			}
			n = h.Decayed(at, decay) + 1
			counts[i] = n
			if err := b.Put(key(p), binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(n)), now)); err != nil {
				return err
			}
		}
		return s.pruneHistory(b)
	})
	return counts, err
}

// SetDynamic records dynamic bans (new or extended) in one transaction.
func (s *Store) SetDynamic(ds ...Ban) error {
	for i, d := range ds {
		if err := checkPrefix(i, d.Prefix); err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error { return putDynamic(tx, ds) })
}

// putDynamic writes dynamic bans. A ban extended without a reason (the
// source kept sending while banned) keeps the reason it was made for.
func putDynamic(tx *bolt.Tx, ds []Ban) error {
	b := tx.Bucket(bucketDynamic)
	for _, d := range ds {
		k := key(d.Prefix)
		if d.Reason == "" {
			if old, err := decodeDynamic(k, b.Get(k)); err == nil {
				d.Reason, d.UserAgent, d.Country = old.Reason, old.UserAgent, old.Country
			}
		}
		v, err := json.Marshal(d)
		if err != nil {
			return err
		}
		if err := b.Put(k, v); err != nil {
			return err
		}
	}
	return nil
}

// decodeDynamic reads one dynamic ban: JSON, or the end time alone (8
// bytes, big-endian nanoseconds) as files written before reasons were kept
// hold it.
func decodeDynamic(k, v []byte) (Ban, error) {
	p, err := netip.ParsePrefix(string(k))
	if err != nil {
		return Ban{}, fmt.Errorf("dynamic ban %s: %w", k, err)
	}
	d := Ban{Prefix: p}
	switch {
	case v == nil:
		return d, fmt.Errorf("dynamic ban %s: not found", k)
	case len(v) == 8:
		d.Until = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
	default:
		if err := json.Unmarshal(v, &d); err != nil {
			return d, fmt.Errorf("dynamic ban %s: %w", k, err)
		}
	}
	return d, nil
}

// Dynamics returns the dynamic bans still in force at now, and forgets the
// ones that ended. A record that cannot be decoded is passed over.
func (s *Store) Dynamics(now time.Time) ([]Ban, error) {
	var out []Ban
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDynamic).Cursor()
		for k, v := c.First(); k != nil; {
			d, err := decodeDynamic(k, v)
			if err != nil {
				k, v = c.Next()
				continue
			}
			if !d.Until.After(now) {
				if err := c.Delete(); err != nil {
					return err
				}
				k, v = c.Seek(k)
				continue
			}
			out = append(out, d)
			k, v = c.Next()
		}
		return nil
	})
	return out, err
}

// DynamicBans returns the dynamic bans still in force at now, in address
// order. It only reads: the card is not written. A record that cannot be
// decoded is passed over.
func (s *Store) DynamicBans(now time.Time) ([]Ban, error) {
	var out []Ban
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDynamic).ForEach(func(k, v []byte) error {
			if d, err := decodeDynamic(k, v); err == nil && d.Until.After(now) {
				out = append(out, d)
			}
			return nil
		})
	})
	return out, err
}

// RemoveDynamic forgets dynamic bans (after a manual unban).
func (s *Store) RemoveDynamic(prefixes ...netip.Prefix) error {
	_, err := s.remove(bucketDynamic, prefixes)
	return err
}

// Record writes what one batch of decisions changed — dynamic bans,
// permanent bans, events — in one transaction: one write to the card.
func (s *Store) Record(ds []Ban, ps []Ban, evs []Event) error {
	for i, d := range ds {
		if err := checkPrefix(i, d.Prefix); err != nil {
			return err
		}
	}
	for i, p := range ps {
		if err := checkPrefix(i, p.Prefix); err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := putDynamic(tx, ds); err != nil {
			return err
		}
		if err := putPermanent(tx, ps); err != nil {
			return err
		}
		return s.appendEvents(tx, evs)
	})
}

// AppendEvents adds events to the attack log and to the daily counters,
// and drops what is over the limits, in one transaction.
func (s *Store) AppendEvents(evs ...Event) error {
	return s.db.Update(func(tx *bolt.Tx) error { return s.appendEvents(tx, evs) })
}

func (s *Store) appendEvents(tx *bolt.Tx, evs []Event) error {
	if s.watch != nil && len(evs) > 0 {
		tx.OnCommit(func() { s.watch(evs) })
	}
	b, meta := tx.Bucket(bucketEvents), tx.Bucket(bucketMeta)
	n := uint64(0)
	if v := meta.Get(keyEventCount); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	for _, e := range evs {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		k := binary.BigEndian.AppendUint64(nil, uint64(e.Time.UnixNano()))
		k = binary.BigEndian.AppendUint64(k, seq)
		if err := b.Put(k, v); err != nil {
			return err
		}
		n++
	}
	now := time.Now()
	if err := s.countDaily(tx, evs, now); err != nil {
		return err
	}
	n, err := s.trim(b, n, now)
	if err != nil {
		return err
	}
	return meta.Put(keyEventCount, binary.BigEndian.AppendUint64(nil, n))
}

// trim drops the oldest events beyond the count limit and those older than
// the age limit (keys sort by time), and returns how many are left.
func (s *Store) trim(b *bolt.Bucket, n uint64, now time.Time) (uint64, error) {
	cutoff := binary.BigEndian.AppendUint64(nil, uint64(now.Add(-s.limits.MaxAge).UnixNano()))
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.First() {
		// A key too short to hold a time is damage: dropped first.
		if n <= uint64(s.limits.MaxEvents) && len(k) >= 8 && bytes.Compare(k[:8], cutoff) >= 0 {
			break
		}
		if err := c.Delete(); err != nil {
			return n, err
		}
		n--
	}
	return n, nil
}

// Events returns up to limit events, newest first. An event that cannot
// be decoded is passed over.
func (s *Store) Events(limit int) ([]Event, error) {
	var out []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var e Event
			if len(k) != 16 || json.Unmarshal(v, &e) != nil {
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Check verifies the file's internal consistency (pages, freelist,
// buckets).
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}
