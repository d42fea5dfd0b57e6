package daemon

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter"
)

// restore puts the state file's lists into rules, and returns the dynamic
// bans still in force, to apply once the ruleset is.
func restore(st *store.Store, rules *netfilter.Ruleset) ([]netfilter.Ban, error) {
	if err := addStoredLists(st, rules); err != nil {
		return nil, err
	}
	now := time.Now()
	dyn, err := st.Dynamics(now)
	if err != nil {
		return nil, fmt.Errorf("read dynamic bans: %w", err)
	}
	bans := make([]netfilter.Ban, 0, len(dyn))
	for _, d := range dyn {
		bans = append(bans, netfilter.BanOf(d.Prefix, max(time.Second, d.Until.Sub(now))))
	}
	return bans, nil
}

// addStoredLists adds the state file's allow and deny lists and permanent
// bans to rules.
func addStoredLists(st *store.Store, rules *netfilter.Ruleset) error {
	for _, l := range []struct {
		list store.List
		dst  *[]netip.Prefix
	}{{store.Allow, &rules.Allow}, {store.Deny, &rules.Deny}} {
		entries, err := st.Entries(l.list)
		if err != nil {
			return fmt.Errorf("read %s list: %w", l.list, err)
		}
		for _, e := range entries {
			*l.dst = append(*l.dst, e.Prefix)
		}
	}
	perms, err := st.Permanents()
	if err != nil {
		return fmt.Errorf("read permanent bans: %w", err)
	}
	for _, p := range perms {
		rules.Permanent = append(rules.Permanent, p.Prefix)
	}
	return nil
}

// openedState is the state file the daemon runs with, and how it came to
// be.
type openedState struct {
	store  *store.Store // nil: none
	status api.StateFile
	// lost says the file of before is not in use: set aside, or nothing is
	// kept (the fault LED shows it).
	lost  bool
	close func()
}

// openState opens the state file at path, and never fails: a file that
// cannot be used is set aside for a fresh one; a disk that takes no file
// at all (read-only, full) gets one in volatileDir, lost when the daemon
// stops; if even that fails the daemon runs without. Every way out is
// logged and reported in the status. An empty path is no state file, as
// configured.
func openState(log *slog.Logger, path, volatileDir string, now time.Time) openedState {
	out := openedState{close: func() {}}
	if path == "" {
		log.Warn("no state file: lists and bans are not kept across restarts")
		out.status.Note = "none configured: lists and bans are not kept across restarts"
		return out
	}
	var (
		st    *store.Store
		aside *store.SetAside
		err   error
	)
	if err = os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
		st, aside, err = store.OpenOrSetAside(path, store.Limits{}, now)
	}
	if aside != nil {
		out.lost = true
		out.status.Problem, out.status.MovedAside = aside.Reason, aside.Path
		if aside.Path != "" {
			log.Error("the state file could not be used: moved aside, its lists and bans are not in force",
				"file", path, "reason", aside.Reason, "moved_to", aside.Path)
			out.status.Note = fmt.Sprintf("moved aside: %s, %s", aside.Reason, aside.Path)
		}
	}
	if files, ferr := store.SetAsideFiles(path); ferr == nil {
		out.status.SetAside = files
	}
	if err == nil {
		out.store, out.status.Path, out.status.Kept = st, path, true
		out.close = func() { st.Close() }
		if n := st.Skipped(); n > 0 {
			out.status.Skipped = n
			log.Warn("state file: records that cannot be read are passed over", "file", path, "records", n)
			if out.status.Note == "" {
				out.status.Note = fmt.Sprintf("unreadable records passed over: %d", n)
			}
		}
		return out
	}
	// No file on the disk: keep one in memory, so that the lists and the
	// attack log work until the daemon stops.
	out.lost = true
	if out.status.Problem == "" {
		out.status.Problem = err.Error()
	}
	log.Error("no state file can be kept: lists and bans live in memory until the service stops", "file", path, "err", err)
	dir, terr := os.MkdirTemp(volatileDir, "sipguard-state-")
	if terr == nil {
		vpath := filepath.Join(dir, "state.db")
		small := store.Limits{MaxEvents: 10_000, MaxDays: 31} // it takes memory
		if st, terr = store.Open(vpath, small); terr == nil {
			out.store, out.status.Path = st, vpath
			out.close = func() { st.Close(); os.RemoveAll(dir) }
			out.status.Note = joinNote(out.status.Note, "not kept: "+err.Error()+"; in memory until the service stops")
			return out
		}
		os.RemoveAll(dir)
	}
	log.Error("no state at all: lists from the configuration only, bans until the service stops", "err", terr)
	out.status.Note = joinNote(out.status.Note, "none: "+err.Error())
	return out
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
