package backup

import (
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// testWorkFactor keeps scrypt cheap in tests; Open reads any work factor
// a backup was made with.
const testWorkFactor = 10

const password = "correct horse battery"

const configText = "# the office box\n[sip]\nregister_limit = 3 # tight\n"

// newStore opens a state file holding two allow entries, a deny entry and
// a permanent ban.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC)
	if err := st.Add(store.Allow,
		store.Entry{Prefix: netip.MustParsePrefix("198.51.100.10/32"), Note: "carrier", Added: at, By: "admin"},
		store.Entry{Prefix: netip.MustParsePrefix("2001:db8:1::/48"), Note: "branch office", Added: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.Add(store.Deny, store.Entry{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Note: "abuse", Added: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddPermanent(store.Ban{Prefix: netip.MustParsePrefix("192.0.2.66/32"), At: at, Reason: "register brute force",
		UserAgent: "friendly-scanner", Country: "NL", Bans: 3}); err != nil {
		t.Fatal(err)
	}
	return st
}

func sealed(t *testing.T, a Archive) []byte {
	t.Helper()
	data, err := seal(a, password, testWorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func collect(t *testing.T) Archive {
	t.Helper()
	a, err := Collect([]byte(configText), newStore(t), "v1.4.0", time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// What a box holds comes back whole: the configuration's text with its
// comments, the lists with their notes, the permanent ban with its reason,
// country and ban count.
func TestRoundTrip(t *testing.T) {
	src := newStore(t)
	a, err := Collect([]byte(configText), src, "v1.4.0", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Read(sealed(t, a), password)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Config) != configText || c.Firmware != "v1.4.0" {
		t.Errorf("configuration %q firmware %q", c.Config, c.Firmware)
	}
	dst, err := store.Open(filepath.Join(t.TempDir(), "restored.db"), store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := dst.ReplaceLists(c.Allow, c.Deny, c.Permanent); err != nil {
		t.Fatal(err)
	}
	for _, l := range []store.List{store.Allow, store.Deny} {
		want, _ := src.Entries(l)
		got, _ := dst.Entries(l)
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("%s list: got %+v, want %+v", l, got, want)
		}
	}
	want, _ := src.Permanents()
	got, _ := dst.Permanents()
	if len(want) != 1 || !reflect.DeepEqual(got, want) {
		t.Errorf("permanent bans: got %+v, want %+v", got, want)
	}
}

func TestWrongPassword(t *testing.T) {
	data := sealed(t, collect(t))
	for _, pw := range []string{"correct horse batterY", "", "a much longer but wrong password"} {
		if _, err := Open(data, pw); !errors.Is(err, ErrWrongPassword) {
			t.Errorf("password %q: %v", pw, err)
		}
	}
	if _, err := Open([]byte("[sip]\nregister_limit = 3\n"), password); !errors.Is(err, ErrWrongPassword) || err.Error() != "wrong password or not a sipguard backup" {
		t.Errorf("a file that is no backup: %v", err)
	}
}

// age authenticates every byte: one flipped anywhere, header or payload,
// and the file is refused.
func TestByteFlipped(t *testing.T) {
	data := sealed(t, collect(t))
	for _, i := range []int{10, len(data) / 3, len(data) / 2, len(data) - 20, len(data) - 1} {
		bad := []byte(string(data))
		bad[i] ^= 0x01
		if _, err := Open(bad, password); err == nil {
			t.Errorf("byte %d of %d flipped: opened", i, len(data))
		}
	}
	bad := []byte(string(data))
	bad[len(bad)-5] ^= 0x80
	if _, err := Open(bad, password); !errors.Is(err, ErrDamaged) {
		t.Errorf("payload byte flipped: %v, want %v", err, ErrDamaged)
	}
}

func TestTruncated(t *testing.T) {
	data := sealed(t, collect(t))
	for _, n := range []int{0, 20, len(data) / 2, len(data) - 16, len(data) - 1} {
		if _, err := Open(data[:n], password); err == nil {
			t.Errorf("cut to %d of %d bytes: opened", n, len(data))
		}
	}
}

// A backup whose configuration the daemon would refuse is refused whole,
// naming the key; so are bad entries and bans, each named.
func TestCheckRefusesBadContent(t *testing.T) {
	a := collect(t)
	a.Config = "[sip]\nregister_limit = 0\n"
	_, err := Read(sealed(t, a), password)
	if err == nil || !strings.Contains(err.Error(), "sip.register_limit") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("a bad configuration value: %v", err)
	}
	a = collect(t)
	a.Config = "[sip]\nno_such_key = 1\n"
	if _, err := a.Check(); err == nil || !strings.Contains(err.Error(), "no_such_key") {
		t.Errorf("an unknown key: %v", err)
	}
	a = collect(t)
	a.Allow = append(a.Allow, Entry{Prefix: "198.51.100.7/24"}, Entry{Prefix: "198.51.100.10"})
	a.Deny = append(a.Deny, Entry{Prefix: "not an address"})
	a.Permanent = append(a.Permanent, Ban{Prefix: "192.0.2.9", Country: "Netherlands"}, Ban{Prefix: "192.0.2.10", Bans: -1})
	_, err = a.Check()
	for _, want := range []string{"allow list, entry 3", "host bits", "allow list, entry 4: 198.51.100.10/32 is listed twice",
		"deny list, entry 2", "permanent ban 2: 192.0.2.9/32: country", "permanent ban 3: 192.0.2.10/32: ban count -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad entries: error lacks %q: %v", want, err)
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	a := collect(t)
	a.Format = 2
	_, err := Open(sealed(t, a), password)
	if err == nil || !strings.Contains(err.Error(), "backup format 2 is unknown") {
		t.Errorf("format 2: %v", err)
	}
}

func TestShortPassword(t *testing.T) {
	if _, err := Seal(collect(t), "eleven char"); !errors.Is(err, ErrShortPassword) {
		t.Errorf("an 11-character password: %v", err)
	}
	if err := CheckPassword("twelve chars"); err != nil {
		t.Errorf("a 12-character password: %v", err)
	}
	if err := CheckPassword("ééééééééééé"); err == nil {
		t.Error("11 characters in 22 bytes accepted")
	}
}

// Seal uses age's default scrypt cost, which Open reads.
func TestSealDefaultCost(t *testing.T) {
	if testing.Short() {
		t.Skip("scrypt at its full cost takes about a second")
	}
	data, err := Seal(collect(t), password)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data[:200]), "scrypt") {
		t.Errorf("no scrypt stanza in %q", data[:200])
	}
	if _, err := Read(data, password); err != nil {
		t.Fatal(err)
	}
}

// benchArchive is a box with 1,000 entries on each list and 1,000
// permanent bans.
func benchArchive() Archive {
	a := Archive{Format: Format, Firmware: "v1.4.0", Created: time.Now().UTC(), Config: configText}
	for i := range 1000 {
		addr := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String()
		if i >= 256 {
			addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}).String()
		}
		a.Allow = append(a.Allow, Entry{Prefix: addr, Note: "carrier", Added: a.Created})
		a.Deny = append(a.Deny, Entry{Prefix: addr, Note: "abuse", Added: a.Created})
		a.Permanent = append(a.Permanent, Ban{Prefix: addr, At: a.Created, Reason: "register brute force", Country: "NL", Bans: 3})
	}
	return a
}

// BenchmarkSeal is a backup's encryption at the box's scrypt cost.
func BenchmarkSeal(b *testing.B) {
	a := benchArchive()
	var size int
	for b.Loop() {
		data, err := Seal(a, password)
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(size), "bytes/backup")
}

// BenchmarkRead is a restore's checks: decryption at the box's scrypt
// cost, then every value.
func BenchmarkRead(b *testing.B) {
	data, err := Seal(benchArchive(), password)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Read(data, password); err != nil {
			b.Fatal(err)
		}
	}
}

// A backup that asks scrypt for more memory than the box gives is refused
// before any is taken, with a message that says why, not as a wrong
// password.
func TestCostlyBackupRefused(t *testing.T) {
	data, err := seal(collect(t), password, workFactor+1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(data, password)
	if err == nil || errors.Is(err, ErrWrongPassword) || !strings.Contains(err.Error(), "work factor") {
		t.Fatalf("a backup at work factor %d: %v", workFactor+1, err)
	}
}
