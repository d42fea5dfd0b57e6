package daemon

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sipguard/sipguard/board"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/leds"
	"github.com/sipguard/sipguard/netfilter"
)

var openedAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func testLog(buf *bytes.Buffer) *slog.Logger {
	var w io.Writer = io.Discard
	if buf != nil {
		w = buf
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// A state file that cannot be used is moved aside with its content, a
// fresh one is used, and the log, the status and the LED say so.
func TestOpenStateSetsAsideAnUnusableFile(t *testing.T) {
	for name, spoil := range map[string]func(t *testing.T, path string) []byte{
		"garbage": func(t *testing.T, path string) []byte {
			b := bytes.Repeat([]byte("garbage "), 600)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return b
		},
		"truncated": func(t *testing.T, path string) []byte {
			s, err := store.Open(path, store.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			var es []store.Entry
			for i := range 2000 {
				es = append(es, store.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 32), Note: strings.Repeat("x", 40)})
			}
			if err := s.Add(store.Deny, es...); err != nil {
				t.Fatal(err)
			}
			s.Close()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b = b[:len(b)/2]
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return b
		},
		"directory": func(t *testing.T, path string) []byte {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data", "state.db")
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			content := spoil(t, path)
			var logBuf bytes.Buffer
			opened := openState(testLog(&logBuf), path, t.TempDir(), openedAt)
			defer opened.close()
			moved := path + ".corrupt-20260304T050607Z"
			if content != nil {
				if b, err := os.ReadFile(moved); err != nil || !bytes.Equal(b, content) {
					t.Errorf("the file moved aside: %d bytes, %v; want its %d bytes", len(b), err, len(content))
				}
			} else if fi, err := os.Stat(moved); err != nil || !fi.IsDir() {
				t.Errorf("the directory moved aside: %v", err)
			}
			if opened.store == nil || !opened.lost {
				t.Fatalf("store %v, lost %v", opened.store, opened.lost)
			}
			if err := opened.store.Add(store.Allow, store.Entry{Prefix: netip.MustParsePrefix("192.0.2.0/24")}); err != nil {
				t.Errorf("the fresh store: %v", err)
			}
			st := opened.status
			if st.Path != path || !st.Kept || st.MovedAside != moved || st.Problem == "" {
				t.Errorf("status %+v", st)
			}
			if !strings.HasPrefix(st.Note, "moved aside: ") || !strings.HasSuffix(st.Note, ", "+moved) {
				t.Errorf("status note %q", st.Note)
			}
			if len(st.SetAside) != 1 || st.SetAside[0] != moved {
				t.Errorf("set aside %v", st.SetAside)
			}
			if l := logBuf.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "moved aside") {
				t.Errorf("log:\n%s", l)
			}
		})
	}
}

// A good state file is used, and nothing is raised; a later start still
// lists the files set aside before.
func TestOpenStateGoodFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	old := path + ".corrupt-20250101T000000Z"
	if err := os.WriteFile(old, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	opened := openState(testLog(nil), path, t.TempDir(), openedAt)
	defer opened.close()
	if opened.store == nil || opened.lost || opened.status.Note != "" || !opened.status.Kept || opened.status.MovedAside != "" {
		t.Errorf("a good file: %+v lost %v", opened.status, opened.lost)
	}
	if len(opened.status.SetAside) != 1 || opened.status.SetAside[0] != old {
		t.Errorf("set aside %v", opened.status.SetAside)
	}
}

// No state file configured is no fault.
func TestOpenStateNone(t *testing.T) {
	opened := openState(testLog(nil), "", t.TempDir(), openedAt)
	defer opened.close()
	if opened.store != nil || opened.lost || opened.status.Kept {
		t.Errorf("%+v", opened)
	}
}

// A disk that takes no state file (here a folder that cannot be created)
// leaves a state file in memory: the lists work until the service stops.
func TestOpenStateVolatile(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "data")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil { // a file where the folder should be
		t.Fatal(err)
	}
	volatile := t.TempDir()
	opened := openState(testLog(nil), filepath.Join(blocker, "state.db"), volatile, openedAt)
	if opened.store == nil || !opened.lost || opened.status.Kept {
		t.Fatalf("%+v", opened)
	}
	if !strings.HasPrefix(opened.status.Path, volatile) || !strings.Contains(opened.status.Note, "not kept") {
		t.Errorf("status %+v", opened.status)
	}
	if err := opened.store.Add(store.Deny, store.Entry{Prefix: netip.MustParsePrefix("203.0.113.0/24")}); err != nil {
		t.Errorf("the state in memory: %v", err)
	}
	opened.close()
	if left, _ := os.ReadDir(volatile); len(left) != 0 {
		t.Errorf("the state in memory is left behind: %v", left)
	}
}

// Not even a state file in memory: the daemon runs without one.
func TestOpenStateNothing(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "data")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	opened := openState(testLog(nil), filepath.Join(blocker, "state.db"), filepath.Join(blocker, "tmp"), openedAt)
	defer opened.close()
	if opened.store != nil || !opened.lost || !strings.HasPrefix(opened.status.Note, "none: ") {
		t.Errorf("%+v", opened)
	}
}

// The fault LED shows a state file that was lost.
func TestStateLostFault(t *testing.T) {
	sim := board.NewSim(board.ButtonConfig{})
	e, err := leds.New(sim.Lights(), testLog(nil))
	if err != nil {
		t.Fatal(err)
	}
	hw := &hardware{board: sim, leds: e}
	hw.stateLost()
	if f := e.Status().Faults; f&leds.FaultStateLost == 0 {
		t.Errorf("faults %v", f)
	}
	// A journal write that succeeds clears the store fault, not this one.
	hw.storeFault(nil)
	if f := e.Status().Faults; f&leds.FaultStateLost == 0 {
		t.Errorf("faults after a good write %v", f)
	}
}

// The lists of a state file with a bad record are restored without it.
func TestRestoreSkipsBadRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := store.Open(path, store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(store.Deny, store.Entry{Prefix: netip.MustParsePrefix("203.0.113.0/24")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDynamic(store.Ban{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("deny")).Put([]byte("192.0.2.9/32"), []byte("{torn")) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	opened := openState(testLog(nil), path, t.TempDir(), openedAt)
	defer opened.close()
	if opened.lost || opened.status.Skipped != 1 || !strings.Contains(opened.status.Note, "unreadable records passed over: 1") {
		t.Errorf("status %+v", opened.status)
	}
	var rules netfilter.Ruleset
	bans, err := restore(opened.store, &rules)
	if err != nil || len(rules.Deny) != 1 || len(bans) != 1 {
		t.Errorf("restore: %v %v %v", rules.Deny, bans, err)
	}
}
