package store

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var setAsideAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// populated writes a state file with enough entries to span many pages,
// and returns its bytes.
func populated(t *testing.T, path string) []byte {
	t.Helper()
	s, err := Open(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var es []Entry
	for i := range 2000 {
		es = append(es, Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 32), Note: strings.Repeat("n", 40)})
	}
	if err := s.Add(Allow, es...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkSetAside asserts that OpenOrSetAside moved the file at path aside
// with its content, and that the fresh store works.
func checkSetAside(t *testing.T, path string, want func(t *testing.T, moved string), reason string) {
	t.Helper()
	s, aside, err := OpenOrSetAside(path, Limits{}, setAsideAt)
	if err != nil {
		t.Fatalf("OpenOrSetAside: %v", err)
	}
	defer s.Close()
	if aside == nil {
		t.Fatal("the file was used, not set aside")
	}
	if wantPath := path + ".corrupt-20260304T050607Z"; aside.Path != wantPath {
		t.Errorf("set aside to %q, want %q", aside.Path, wantPath)
	}
	if !strings.Contains(aside.Reason, reason) {
		t.Errorf("reason %q lacks %q", aside.Reason, reason)
	}
	want(t, aside.Path)
	if err := s.Add(Deny, Entry{Prefix: pfx("203.0.113.0/24")}); err != nil {
		t.Fatalf("the fresh store refuses a write: %v", err)
	}
	got, err := s.Entries(Deny)
	if err != nil || len(got) != 1 {
		t.Fatalf("the fresh store: %v %v", got, err)
	}
	if n, _ := s.Entries(Allow); len(n) != 0 {
		t.Errorf("the fresh store is not empty: %d allow entries", len(n))
	}
}

func sameContent(content []byte) func(*testing.T, string) {
	return func(t *testing.T, moved string) {
		t.Helper()
		b, err := os.ReadFile(moved)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, content) {
			t.Errorf("the file set aside holds %d bytes, not the %d it had", len(b), len(content))
		}
	}
}

func TestOpenOrSetAsideGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	garbage := bytes.Repeat([]byte("not a state file\n"), 1000)
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Limits{}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open of garbage: %v, want ErrDamaged", err)
	}
	checkSetAside(t, path, sameContent(garbage), "damaged")
}

func TestOpenOrSetAsideTruncated(t *testing.T) {
	for _, cut := range []int{2, 3, 4} { // half, a third, a quarter of the file
		dir := t.TempDir()
		path := filepath.Join(dir, "state.db")
		full := populated(t, path)
		truncated := full[:len(full)/cut]
		if err := os.WriteFile(path, truncated, 0o600); err != nil {
			t.Fatal(err)
		}
		checkSetAside(t, path, sameContent(truncated), "damaged")
	}
}

func TestOpenOrSetAsideOverwrittenPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b := populated(t, path)
	for i := 3 * 4096; i < 8*4096 && i < len(b); i++ {
		b[i] = 0xff
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	checkSetAside(t, path, sameContent(b), "damaged")
}

func TestOpenOrSetAsideDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "inside"), []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkSetAside(t, path, func(t *testing.T, moved string) {
		if b, err := os.ReadFile(filepath.Join(moved, "inside")); err != nil || string(b) != "kept" {
			t.Errorf("the directory set aside lost its content: %q %v", b, err)
		}
	}, "not a file")
}

func TestOpenOrSetAsideUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	content := populated(t, path)
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	checkSetAside(t, path, func(t *testing.T, moved string) {
		if err := os.Chmod(moved, 0o600); err != nil {
			t.Fatal(err)
		}
		sameContent(content)(t, moved)
	}, "permission")
}

func TestOpenOrSetAsideUsesAGoodFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	populated(t, path)
	s, aside, err := OpenOrSetAside(path, Limits{}, setAsideAt)
	if err != nil || aside != nil {
		t.Fatalf("a good file: %v %+v", err, aside)
	}
	defer s.Close()
	if es, _ := s.Entries(Allow); len(es) != 2000 {
		t.Errorf("%d entries, want 2000", len(es))
	}
	if files, _ := SetAsideFiles(path); len(files) != 0 {
		t.Errorf("files set aside: %v", files)
	}
}

// A file another process holds is not the file's fault: it is left alone.
func TestOpenOrSetAsideLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the lock")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	holder, err := Open(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	s, aside, err := OpenOrSetAside(path, Limits{}, setAsideAt)
	if !errors.Is(err, ErrLocked) || s != nil || aside != nil {
		t.Fatalf("a locked file: %v %v %+v", err, s, aside)
	}
	if files, _ := SetAsideFiles(path); len(files) != 0 {
		t.Errorf("a locked file was set aside: %v", files)
	}
}

// Only the newest KeepSetAside files set aside are kept.
func TestSetAsideKeepsTheNewest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	old := []string{"20250101T000000Z", "20250201T000000Z", "20250301T000000Z", "20250401T000000Z"}
	for _, ts := range old {
		if err := os.WriteFile(path+".corrupt-"+ts, []byte(ts), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, []byte("garbage garbage garbage garbage garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, aside, err := OpenOrSetAside(path, Limits{}, setAsideAt)
	if err != nil || aside == nil {
		t.Fatalf("%v %+v", err, aside)
	}
	s.Close()
	files, err := SetAsideFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{path + ".corrupt-20250301T000000Z", path + ".corrupt-20250401T000000Z", path + ".corrupt-20260304T050607Z"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("kept %v, want %v", files, want)
	}
	// The same second twice: the second file gets a number, not the first's name.
	s, _ = reopenGarbage(t, path)
	s.Close()
	if _, err := os.Stat(path + ".corrupt-20260304T050607Z-1"); err != nil {
		t.Errorf("the second file of the same second: %v", err)
	}
}

func reopenGarbage(t *testing.T, path string) (*Store, *SetAside) {
	t.Helper()
	if err := os.WriteFile(path, []byte("more garbage, more garbage, more garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, aside, err := OpenOrSetAside(path, Limits{}, setAsideAt)
	if err != nil || aside == nil {
		t.Fatalf("%v %+v", err, aside)
	}
	return s, aside
}

// A fresh file that cannot be created (a read-only folder) is an error,
// after the damaged one was set aside if it could be.
func TestOpenOrSetAsideNoFreshFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into a read-only folder")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state.db")
	if err := os.WriteFile(path, []byte("garbage garbage garbage garbage garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	s, aside, err := OpenOrSetAside(path, Limits{}, setAsideAt)
	if err == nil || s != nil {
		t.Fatalf("no error in a read-only folder: %v", err)
	}
	if aside == nil || aside.Path != "" || !strings.Contains(aside.Reason, "damaged") {
		t.Errorf("aside = %+v", aside)
	}
}

// One record that cannot be decoded does not make the file unusable: it
// is counted and passed over.
func TestBadRecordsSkippedAndCounted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := s.Add(Allow, Entry{Prefix: pfx("198.51.100.0/24")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Record([]Ban{{Prefix: pfx("203.0.113.5/32"), Until: now.Add(time.Hour)}}, []Ban{{Prefix: pfx("203.0.113.9/32"), At: now}},
		[]Event{{Time: now, Action: ActionBan, Source: pfx("203.0.113.5/32"), Reason: "scanner"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, r := range []struct{ bucket, k, v []byte }{
			{bucketAllow, []byte("198.51.100.77/32"), []byte("{not json")},
			{bucketAllow, []byte("not a prefix"), []byte("{}")},
			{bucketPermanent, []byte("203.0.113.10/32"), []byte("[1,2]")},
			{bucketDynamic, []byte("203.0.113.11/32"), []byte("xyz")},
			{bucketEvents, []byte("short"), []byte("{}")},
			{bucketDaily, []byte("2026-01-01"), []byte("{{")},
		} {
			if err := tx.Bucket(r.bucket).Put(r.k, r.v); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, aside, err := OpenOrSetAside(path, Limits{}, setAsideAt)
	if err != nil || aside != nil {
		t.Fatalf("bad records made the file unusable: %v %+v", err, aside)
	}
	defer s.Close()
	if s.Skipped() != 6 {
		t.Errorf("Skipped() = %d, want 6", s.Skipped())
	}
	if es, err := s.Entries(Allow); err != nil || len(es) != 1 {
		t.Errorf("allow list: %v %v", es, err)
	}
	if ps, err := s.Permanents(); err != nil || len(ps) != 1 {
		t.Errorf("permanent bans: %v %v", ps, err)
	}
	if ds, err := s.Dynamics(now); err != nil || len(ds) != 1 {
		t.Errorf("dynamic bans: %v %v", ds, err)
	}
	if ds, err := s.DynamicBans(now); err != nil || len(ds) != 1 {
		t.Errorf("dynamic bans, read only: %v %v", ds, err)
	}
	if evs, err := s.Events(10); err != nil || len(evs) != 1 {
		t.Errorf("events: %v %v", evs, err)
	}
	if _, err := s.Report(now.Add(-48*time.Hour), now.Add(time.Hour), 5); err != nil {
		t.Errorf("report: %v", err)
	}
	// Writing goes on: the attack log, its counters and its trimming.
	if err := s.AppendEvents(Event{Time: now, Action: ActionAlert, Source: pfx("203.0.113.12/32"), Reason: "flood"}); err != nil {
		t.Errorf("append after bad records: %v", err)
	}
}
