// Package backup is the box's encrypted backup: the configuration file as
// it is (comments kept), the allow and deny lists with their notes and the
// permanent bans with their reasons, in one JSON document encrypted with
// age under a password (scrypt).
//
// The document (format 1) is an object:
//
//	format     1
//	firmware   the firmware version that made it
//	created    when (RFC 3339)
//	config     the configuration file's text ("" when the box ran on the defaults)
//	allow      [{prefix, note, added, by}]
//	deny       [{prefix, note, added, by}]
//	permanent  [{prefix, at, reason, user_agent, country, bans}]
//
// age authenticates the whole file: a wrong password, a changed byte or a
// cut file is refused before anything is read. Check then tests every
// part by the rules the box applies them with, so that a restore checks
// everything before it changes anything.
package backup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"filippo.io/age"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter"
)

// Format is the version of the document this firmware writes and reads.
const Format = 1

// MinPassword is the shortest password accepted, in characters.
const MinPassword = 12

// MaxSize bounds an encrypted backup: far above the largest lists a box
// keeps.
const MaxSize = 64 << 20

// workFactor is scrypt's cost (log2 N) for a new backup, and the most a
// backup may ask of the box to be read: 2^16 takes 64 MiB, which a box
// with 1 GB spares while it protects (age's default, 2^18, takes 256 MiB;
// a forged file asking for age's maximum, 2^22, would take 4 GiB). The
// password's minimum length carries the rest of the strength.
const workFactor = 16

var (
	// ErrWrongPassword means the file does not open with the password: a
	// wrong password, or not a backup at all.
	ErrWrongPassword = errors.New("wrong password or not a sipguard backup")
	// ErrDamaged means the file opens but fails its authentication: it
	// was changed or cut after it was made.
	ErrDamaged = errors.New("the backup is damaged or was changed: it fails its authentication")
	// ErrShortPassword refuses a password under MinPassword characters.
	ErrShortPassword = fmt.Errorf("the password must have at least %d characters", MinPassword)
)

// Archive is what a backup holds.
type Archive struct {
	Format    int       `json:"format"`
	Firmware  string    `json:"firmware"`
	Created   time.Time `json:"created"`
	Config    string    `json:"config"`
	Allow     []Entry   `json:"allow"`
	Deny      []Entry   `json:"deny"`
	Permanent []Ban     `json:"permanent"`
}

// Entry is one address or network of the allow or deny list.
type Entry struct {
	Prefix string    `json:"prefix"`
	Note   string    `json:"note,omitempty"`
	Added  time.Time `json:"added,omitzero"`
	By     string    `json:"by,omitempty"`
}

// Ban is one permanent ban.
type Ban struct {
	Prefix    string    `json:"prefix"`
	At        time.Time `json:"at,omitzero"`
	Reason    string    `json:"reason,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Country   string    `json:"country,omitempty"`
	Bans      int       `json:"bans,omitempty"`
}

// Collect makes the archive of a box: its configuration file's text
// (nil when it runs on the defaults) and the state file's lists and
// permanent bans.
func Collect(configText []byte, st *store.Store, firmware string, now time.Time) (Archive, error) {
	a := Archive{Format: Format, Firmware: firmware, Created: now.UTC(), Config: string(configText),
		Allow: []Entry{}, Deny: []Entry{}, Permanent: []Ban{}}
	for _, l := range []struct {
		list store.List
		dst  *[]Entry
	}{{store.Allow, &a.Allow}, {store.Deny, &a.Deny}} {
		entries, err := st.Entries(l.list)
		if err != nil {
			return Archive{}, fmt.Errorf("read the %s list: %w", l.list, err)
		}
		for _, e := range entries {
			*l.dst = append(*l.dst, Entry{Prefix: e.Prefix.String(), Note: e.Note, Added: e.Added.UTC(), By: e.By})
		}
	}
	perms, err := st.Permanents()
	if err != nil {
		return Archive{}, fmt.Errorf("read the permanent bans: %w", err)
	}
	for _, p := range perms {
		a.Permanent = append(a.Permanent, Ban{Prefix: p.Prefix.String(), At: p.At.UTC(), Reason: p.Reason,
			UserAgent: p.UserAgent, Country: p.Country, Bans: p.Bans})
	}
	return a, nil
}

// CheckPassword refuses a password too short to protect a backup.
func CheckPassword(password string) error {
	if utf8.RuneCountInString(password) < MinPassword {
		return ErrShortPassword
	}
	return nil
}

// Seal encrypts the archive under password.
func Seal(a Archive, password string) ([]byte, error) { return seal(a, password, workFactor) }

func seal(a Archive, password string, logN int) ([]byte, error) {
	if err := CheckPassword(password); err != nil {
		return nil, err
	}
	doc, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	r, err := age.NewScryptRecipient(password)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	r.SetWorkFactor(logN)
	var out bytes.Buffer
	w, err := age.Encrypt(&out, r)
	if err != nil {
		return nil, fmt.Errorf("backup: encrypt: %w", err)
	}
	if _, err := w.Write(doc); err != nil {
		return nil, fmt.Errorf("backup: encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("backup: encrypt: %w", err)
	}
	return out.Bytes(), nil
}

// Open decrypts a backup with password and reads its archive, whose
// format it must know. It does not check the content: Check does.
func Open(data []byte, password string) (Archive, error) {
	if password == "" {
		return Archive{}, ErrWrongPassword
	}
	if len(data) > MaxSize {
		return Archive{}, fmt.Errorf("the file is larger than a backup can be (%d bytes)", MaxSize)
	}
	id, err := age.NewScryptIdentity(password)
	if err != nil {
		return Archive{}, ErrWrongPassword
	}
	id.SetMaxWorkFactor(workFactor)
	r, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		if strings.Contains(err.Error(), "work factor") {
			return Archive{}, fmt.Errorf("the backup asks for more memory to decrypt than the box gives (scrypt work factor over %d): not made by a sipguard box", workFactor)
		}
		return Archive{}, ErrWrongPassword
	}
	doc, err := io.ReadAll(r)
	if err != nil {
		return Archive{}, ErrDamaged
	}
	var head struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(doc, &head); err != nil {
		return Archive{}, fmt.Errorf("not a sipguard backup: %w", err)
	}
	if head.Format != Format {
		return Archive{}, fmt.Errorf("backup format %d is unknown to this firmware (it reads format %d)", head.Format, Format)
	}
	var a Archive
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return Archive{}, fmt.Errorf("backup format %d: %w", Format, err)
	}
	return a, nil
}

// Contents is an archive checked, in the types the box applies.
type Contents struct {
	Config      []byte // the configuration file's text; nil: the defaults
	Allow, Deny []store.Entry
	Permanent   []store.Ban
	Firmware    string
	Created     time.Time
}

// Check tests every part of the archive by the rules the box applies it
// with: the configuration as the daemon loads it, every list entry and
// permanent ban. The error names every problem.
func (a Archive) Check() (Contents, error) {
	var errs []error
	if a.Format != Format {
		errs = append(errs, fmt.Errorf("format %d: unknown (this firmware reads format %d)", a.Format, Format))
	}
	c := Contents{Firmware: a.Firmware, Created: a.Created}
	if a.Config != "" {
		c.Config = []byte(a.Config)
		if _, err := config.Parse(c.Config); err != nil {
			errs = append(errs, fmt.Errorf("configuration: %w", err))
		}
	}
	for _, l := range []struct {
		name    string
		entries []Entry
		dst     *[]store.Entry
	}{{"allow", a.Allow, &c.Allow}, {"deny", a.Deny, &c.Deny}} {
		seen := map[netip.Prefix]bool{}
		for i, e := range l.entries {
			p, err := netfilter.ParsePrefix(e.Prefix)
			if err == nil && seen[p] {
				err = fmt.Errorf("%v is listed twice", p)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s list, entry %d: %w", l.name, i+1, err))
				continue
			}
			seen[p] = true
			*l.dst = append(*l.dst, store.Entry{Prefix: p, Note: e.Note, Added: e.Added, By: e.By})
		}
	}
	seen := map[netip.Prefix]bool{}
	for i, b := range a.Permanent {
		p, err := netfilter.ParsePrefix(b.Prefix)
		switch {
		case err != nil:
		case seen[p]:
			err = fmt.Errorf("%v is listed twice", p)
		case b.Bans < 0:
			err = fmt.Errorf("%v: ban count %d is negative", p, b.Bans)
		case b.Country != "" && !isCountry(b.Country):
			err = fmt.Errorf("%v: country %q is not a two-letter code", p, b.Country)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("permanent ban %d: %w", i+1, err))
			continue
		}
		seen[p] = true
		c.Permanent = append(c.Permanent, store.Ban{Prefix: p, At: b.At, Reason: b.Reason, UserAgent: b.UserAgent, Country: b.Country, Bans: b.Bans})
	}
	if err := errors.Join(errs...); err != nil {
		return Contents{}, err
	}
	return c, nil
}

// isCountry reports whether s is an ISO 3166 alpha-2 code's shape.
func isCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// Read opens a backup with password and checks it: what a restore applies
// when it returns no error.
func Read(data []byte, password string) (Contents, error) {
	a, err := Open(data, password)
	if err != nil {
		return Contents{}, err
	}
	c, err := a.Check()
	if err != nil {
		return Contents{}, fmt.Errorf("the backup is refused, nothing was changed: %w", err)
	}
	return c, nil
}
