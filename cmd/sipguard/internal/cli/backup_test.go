package cli

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/backup"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// fakeBackups is what the fake daemon backs up, and what it was given to
// restore.
type fakeBackups struct {
	archive  backup.Archive
	restored *backup.Contents
}

func (f *fakeDaemon) Backup(_ context.Context, password string) ([]byte, error) {
	return backup.Seal(f.backups.archive, password)
}

func (f *fakeDaemon) Restore(_ context.Context, password string, file []byte) (api.Restored, error) {
	c, err := backup.Read(file, password)
	if err != nil {
		return api.Restored{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	f.backups.restored = &c
	return api.Restored{Firmware: c.Firmware, Created: c.Created, Config: c.Config != nil, Allow: len(c.Allow), Deny: len(c.Deny), Permanent: len(c.Permanent)}, nil
}

const testPassword = "correct horse battery"

// passwordFile writes a password file, with its line's end.
func passwordFile(t *testing.T, password string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Through the daemon: the backup comes back encrypted and is written
// 0600; the restore sends it back whole, and says what it put back.
func TestBackupRestoreThroughDaemon(t *testing.T) {
	f := &fakeDaemon{backups: fakeBackups{archive: backup.Archive{Format: backup.Format, Firmware: "v1.4.0", Created: time.Now().UTC(),
		Config: "[sip]\nregister_limit = 3\n", Allow: []backup.Entry{{Prefix: "198.51.100.10/32", Note: "carrier"}},
		Deny: []backup.Entry{}, Permanent: []backup.Ban{{Prefix: "192.0.2.66/32", Reason: "register brute force", Bans: 3}}}}}
	sock := serveFake(t, f)
	pw := passwordFile(t, testPassword)
	out := filepath.Join(t.TempDir(), "box.age")
	code, stdout, errOut := run(t, "--api", sock, "backup", "--out", out, "--password-file", pw)
	if code != 0 || !strings.Contains(stdout, "backup written") {
		t.Fatalf("backup: %d %q %q", code, stdout, errOut)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi.Mode(), err)
	}
	data, _ := os.ReadFile(out)
	a, err := backup.Open(data, testPassword)
	if err != nil || !reflect.DeepEqual(a, f.backups.archive) {
		t.Fatalf("the file holds %+v (%v), want %+v", a, err, f.backups.archive)
	}
	code, stdout, errOut = run(t, "--api", sock, "restore", out, "--password-file", pw)
	if code != 0 || f.backups.restored == nil {
		t.Fatalf("restore: %d %q %q", code, stdout, errOut)
	}
	for _, want := range []string{"firmware v1.4.0", "configuration file: replaced", "allow list: 1 entries", "permanent bans: 1"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("restore says no %q:\n%s", want, stdout)
		}
	}
	f.backups.restored = nil
	code, _, errOut = run(t, "--api", sock, "restore", out, "--password-file", passwordFile(t, "not the password"))
	if code != 1 || !strings.Contains(errOut, "wrong password or not a sipguard backup") || f.backups.restored != nil {
		t.Errorf("restore with a wrong password: %d %q", code, errOut)
	}
}

// A password under 12 characters, or none (no terminal to ask on), is
// refused before anything is written.
func TestBackupPassword(t *testing.T) {
	f := &fakeDaemon{}
	sock := serveFake(t, f)
	out := filepath.Join(t.TempDir(), "box.age")
	t.Setenv(PasswordEnv, "")
	code, _, errOut := run(t, "--api", sock, "backup", "--out", out)
	if code != 2 || !strings.Contains(errOut, "--password-file") {
		t.Errorf("no password: %d %q", code, errOut)
	}
	t.Setenv(PasswordEnv, "eleven char")
	code, _, errOut = run(t, "--api", sock, "backup", "--out", out)
	if code != 2 || !strings.Contains(errOut, "at least 12 characters") {
		t.Errorf("a short password: %d %q", code, errOut)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused backup wrote its file")
	}
	code, _, errOut = run(t, "--api", sock, "backup", "--password-file", passwordFile(t, testPassword))
	if code != 2 || !strings.Contains(errOut, "--out") {
		t.Errorf("no --out: %d %q", code, errOut)
	}
}

// boxFiles is a stopped box's configuration and state files.
type boxFiles struct{ config, state string }

func newBoxFiles(t *testing.T, configText string) boxFiles {
	t.Helper()
	dir := t.TempDir()
	b := boxFiles{config: filepath.Join(dir, "sipguard.toml"), state: filepath.Join(dir, "state.db")}
	if err := os.WriteFile(b.config, []byte(configText), 0o644); err != nil {
		t.Fatal(err)
	}
	b.edit(t, func(st *store.Store) error {
		if err := st.Add(store.Allow, store.Entry{Prefix: netip.MustParsePrefix("198.51.100.10/32"), Note: "carrier", Added: time.Now().UTC()}); err != nil {
			return err
		}
		if err := st.Add(store.Deny, store.Entry{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Note: "abuse"}); err != nil {
			return err
		}
		return st.AddPermanent(store.Ban{Prefix: netip.MustParsePrefix("192.0.2.66/32"), Reason: "register brute force", Country: "NL", Bans: 3, At: time.Now().UTC()})
	})
	return b
}

// edit opens the state file, calls fn and closes it.
func (b boxFiles) edit(t *testing.T, fn func(*store.Store) error) {
	t.Helper()
	st, err := store.Open(b.state, store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := fn(st); err != nil {
		t.Fatal(err)
	}
}

// snapshot is the configuration file's bytes and the state file's lists.
func (b boxFiles) snapshot(t *testing.T) string {
	t.Helper()
	text, err := os.ReadFile(b.config)
	if err != nil {
		t.Fatal(err)
	}
	var lists string
	b.edit(t, func(st *store.Store) error {
		allow, _ := st.Entries(store.Allow)
		deny, _ := st.Entries(store.Deny)
		perms, _ := st.Permanents()
		lists = fmt.Sprintf("allow %+v\ndeny %+v\npermanent %+v", allow, deny, perms)
		return nil
	})
	return string(text) + "\n---\n" + lists
}

// With no daemon running, backup and restore work on --config and
// --state. A wrong password, a changed byte, a backup whose configuration
// is bad: each is refused and changes nothing; the good one puts back the
// configuration's very bytes and the lists, and the file is made 0600.
func TestBackupRestoreNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	const configText = "# office box\n[sip]\nregister_limit = 3 # tight\n"
	box := newBoxFiles(t, configText)
	pw := passwordFile(t, testPassword)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.age")
	if code, out, errOut := run(t, "--api", sock, "backup", "--out", good, "--config", box.config, "--state", box.state, "--password-file", pw); code != 0 {
		t.Fatalf("backup: %d %q %q", code, out, errOut)
	}
	original := box.snapshot(t)

	// The box changes after the backup.
	if err := os.WriteFile(box.config, []byte("[sip]\nregister_limit = 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	box.edit(t, func(st *store.Store) error {
		if _, err := st.Clear(store.Allow); err != nil {
			return err
		}
		if err := st.Add(store.Allow, store.Entry{Prefix: netip.MustParsePrefix("198.51.100.99/32"), Note: "new"}); err != nil {
			return err
		}
		_, err := st.RemovePermanent(netip.MustParsePrefix("192.0.2.66/32"))
		return err
	})
	changed := box.snapshot(t)

	// A backup of a box whose configuration file has a bad value.
	bad := newBoxFiles(t, "[sip]\nregister_limit = 0\n")
	badFile := filepath.Join(dir, "bad.age")
	if code, out, errOut := run(t, "--api", sock, "backup", "--out", badFile, "--config", bad.config, "--state", bad.state, "--password-file", pw); code != 0 {
		t.Fatalf("backup of a bad configuration: %d %q %q", code, out, errOut)
	}
	data, _ := os.ReadFile(good)
	flipped := []byte(string(data))
	flipped[len(flipped)-10] ^= 0x01
	tampered := filepath.Join(dir, "tampered.age")
	if err := os.WriteFile(tampered, flipped, 0o600); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.age")
	if err := os.WriteFile(truncated, data[:len(data)-30], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, file, password, want string
	}{
		{"a wrong password", good, "not the right password", "wrong password or not a sipguard backup"},
		{"a byte changed", tampered, testPassword, "damaged or was changed"},
		{"a cut file", truncated, testPassword, "damaged or was changed"},
		{"a bad configuration value", badFile, testPassword, "sip.register_limit"},
	} {
		code, out, errOut := run(t, "--api", sock, "restore", c.file, "--config", box.config, "--state", box.state, "--password-file", passwordFile(t, c.password))
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("restore of %s: %d %q %q, want exit 1 and %q", c.name, code, out, errOut, c.want)
		}
		if now := box.snapshot(t); now != changed {
			t.Errorf("restore of %s changed the box:\n%s\nwas:\n%s", c.name, now, changed)
		}
	}
	code, out, errOut := run(t, "--api", sock, "restore", good, "--config", box.config, "--state", box.state, "--password-file", pw)
	if code != 0 || !strings.Contains(out, "no daemon running") {
		t.Fatalf("restore: %d %q %q", code, out, errOut)
	}
	if now := box.snapshot(t); now != original {
		t.Errorf("restored:\n%s\nwant:\n%s", now, original)
	}
	if fi, err := os.Stat(box.config); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored configuration file: %v %v, want 0600", fi.Mode(), err)
	}
	// A backup holding a configuration file needs --config to put it.
	code, _, errOut = run(t, "--api", sock, "restore", good, "--state", box.state, "--password-file", pw)
	if code != 2 || !strings.Contains(errOut, "--config") {
		t.Errorf("restore without --config: %d %q", code, errOut)
	}
}

// The daemon warns when its configuration file is readable by others than
// its owner, and says nothing when it is not.
func TestWarnReadableConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sipguard.toml")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	warnReadable(logger(&buf), p)
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "mode=0644") {
		t.Errorf("no warning for a 0644 file: %q", buf.String())
	}
	buf.Reset()
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	warnReadable(logger(&buf), p)
	if buf.Len() != 0 {
		t.Errorf("a warning for a 0600 file: %q", buf.String())
	}
}
