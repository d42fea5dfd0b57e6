package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Why a state file cannot be opened.
var (
	// ErrDamaged marks a file that is not a state file, or whose pages
	// cannot be read: truncated, overwritten, torn.
	ErrDamaged = errors.New("damaged")
	// ErrLocked marks a file another process holds open: another
	// sipguard daemon runs with it.
	ErrLocked = errors.New("locked by another process")
)

// lockWait is how long Open waits for another process to let go of the
// file.
const lockWait = 2 * time.Second

// KeepSetAside is how many state files set aside OpenOrSetAside keeps:
// the newest. Older ones are deleted, so that a card that keeps damaging
// the file does not fill up.
const KeepSetAside = 3

// setAsideMark is what a set-aside file's name adds to the state file's.
const setAsideMark = ".corrupt-"

// Skipped returns how many records Open found that cannot be decoded. The
// readers pass over them; the rest of the file is used as it is.
func (s *Store) Skipped() int { return s.skipped }

// guard runs f, turning a panic or a memory fault (bbolt reading a damaged
// or truncated file through its memory map) into ErrDamaged. A bbolt
// handle abandoned by a panic keeps its file descriptor until the process
// ends; the file itself is not changed.
func guard(f func() error) (err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		debug.SetPanicOnFault(true)
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: %v", ErrDamaged, r)
			}
		}()
		err = f()
	}()
	<-done
	return err
}

// closeQuietly closes a handle to a file that failed to open.
func closeQuietly(db *bolt.DB) {
	_ = guard(db.Close)
}

// classify names bbolt's reasons for refusing a file.
func classify(err error) error {
	switch {
	case errors.Is(err, ErrDamaged):
		return err
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %v", ErrLocked, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrInvalidMapping), strings.Contains(err.Error(), "file size too small"):
		return fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return err
}

// verify reads every record of the file once, in the goroutine guard
// watches: a damaged page fails here rather than later in a reader. It
// returns how many records cannot be decoded.
func verify(db *bolt.DB) (bad int, err error) {
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			ok := recordCheck(name)
			return b.ForEach(func(k, v []byte) error {
				if !ok(k, v) {
					bad++
				}
				return nil
			})
		})
	})
	return bad, err
}

// recordCheck returns the check of one record of bucket name.
func recordCheck(name []byte) func(k, v []byte) bool {
	keyed := func(decode func(k, v []byte) error) func(k, v []byte) bool {
		return func(k, v []byte) bool { return decode(k, v) == nil }
	}
	switch string(name) {
	case string(bucketAllow), string(bucketDeny):
		return keyed(func(k, v []byte) error { _, _, err := decodeKeyed[Entry](k, v); return err })
	case string(bucketPermanent):
		return keyed(func(k, v []byte) error { _, _, err := decodeKeyed[Ban](k, v); return err })
	case string(bucketDynamic):
		return keyed(func(k, v []byte) error { _, err := decodeDynamic(k, v); return err })
	case string(bucketHistory):
		return func(k, v []byte) bool {
			_, err := netip.ParsePrefix(string(k))
			return err == nil && (len(v) == 4 || len(v) == 8)
		}
	case string(bucketEvents):
		return func(k, v []byte) bool {
			var e Event
			return len(k) == 16 && json.Unmarshal(v, &e) == nil
		}
	case string(bucketTokens):
		return func(_, v []byte) bool {
			var t Token
			return json.Unmarshal(v, &t) == nil
		}
	case string(bucketDaily):
		return func(_, v []byte) bool {
			var t Tally
			return json.Unmarshal(v, &t) == nil
		}
	}
	// meta, and what a later version may add: walked, never judged; no
	// reader decodes them.
	return func(_, _ []byte) bool { return true }
}

// SetAside is a state file that could not be used, moved out of the way.
type SetAside struct {
	Reason string // why it could not be used
	Path   string // where it is now; empty when it could not be moved
}

// OpenOrSetAside opens the state file at path as Open does. A file that
// cannot be used — damaged, unreadable, not a regular file — is renamed,
// content untouched, to path.corrupt-<UTC time> (now), the older such
// files beyond the newest KeepSetAside are deleted, and a fresh state file
// is created at path. The SetAside returned says so; it is nil when the
// file was used.
//
// A file another process holds (ErrLocked), or a disk that is read-only or
// full, is left as it is: nothing is wrong with the file. The error then,
// or when even a fresh file cannot be created, means there is no store at
// path.
func OpenOrSetAside(path string, l Limits, now time.Time) (*Store, *SetAside, error) {
	s, err := Open(path, l)
	if err == nil {
		return s, nil, nil
	}
	if !replaceable(path, err) {
		return nil, nil, err
	}
	aside := &SetAside{Reason: reasonOf(err)}
	moved, rerr := moveAside(path, now)
	if rerr != nil {
		return nil, aside, errors.Join(err, fmt.Errorf("set the state file aside: %w", rerr))
	}
	aside.Path = moved
	pruneSetAside(path)
	s, ferr := Open(path, l)
	if ferr != nil {
		return nil, aside, fmt.Errorf("a fresh state file: %w", ferr)
	}
	return s, aside, nil
}

// replaceable reports whether the file at path, that failed to open with
// err, is to be set aside: something is there, and the failure is the
// file's, not another process's or the disk's.
func replaceable(path string, err error) bool {
	if _, lerr := os.Lstat(path); lerr != nil {
		return false
	}
	switch {
	case errors.Is(err, ErrLocked), errors.Is(err, syscall.EROFS), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return false
	}
	return true
}

// reasonOf says in a few words why a state file could not be used.
func reasonOf(err error) string {
	var pe *fs.PathError
	switch {
	case errors.Is(err, ErrDamaged):
		msg := err.Error()
		if i := strings.Index(msg, ErrDamaged.Error()+": "); i >= 0 {
			return msg[i:]
		}
		return ErrDamaged.Error()
	case errors.Is(err, syscall.EISDIR):
		return "not a file (a directory)"
	case errors.Is(err, fs.ErrPermission):
		return "unreadable: permission denied"
	case errors.As(err, &pe):
		return pe.Err.Error()
	}
	return err.Error()
}

// moveAside renames the file at path to path.corrupt-<now, UTC>, with a
// number added if that name is taken, and returns the new name.
func moveAside(path string, now time.Time) (string, error) {
	base := path + setAsideMark + now.UTC().Format("20060102T150405Z")
	to := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, to); err != nil {
		return "", err
	}
	syncDir(filepath.Dir(path))
	return to, nil
}

// syncDir makes a rename in dir durable, where the filesystem allows.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// SetAsideFiles lists the files set aside from the state file at path,
// oldest first.
func SetAsideFiles(path string) ([]string, error) {
	matches, err := filepath.Glob(globQuote(path) + setAsideMark + "*")
	if err != nil {
		return nil, err
	}
	slices.Sort(matches) // the names carry the time
	return matches, nil
}

// globQuote escapes the pattern characters of a path.
func globQuote(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// pruneSetAside deletes the files set aside from path beyond the newest
// KeepSetAside. A failure leaves them: they only take room.
func pruneSetAside(path string) {
	files, err := SetAsideFiles(path)
	if err != nil || len(files) <= KeepSetAside {
		return
	}
	for _, f := range files[:len(files)-KeepSetAside] {
		_ = os.RemoveAll(f)
	}
}
