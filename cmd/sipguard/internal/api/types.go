package api

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/geoip"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/remotelog"
	"github.com/sipguard/sipguard/leds"
	"github.com/sipguard/sipguard/netfilter"
)

// DefaultSocket is where the daemon listens on the box.
const DefaultSocket = "/run/sipguard/api.sock"

// Status is the box's state at a glance.
type Status struct {
	Lists      map[string]ListSize `json:"lists"`            // allow, deny, permanent, dynamic, countries, feeds
	Counters   map[string]uint64   `json:"counters"`         // packets accepted or dropped, by rule
	Inspection map[string]uint64   `json:"inspection"`       // frames seen, undecodable, socket drops…
	Sources    int                 `json:"sources"`          // sources the detection tracks
	Config     string              `json:"config,omitempty"` // the daemon's configuration file
	// FirstPacket is the first-packet verdict: on, off or unavailable
	// (the kernel lacks a piece); empty from a daemon without it.
	FirstPacket string `json:"first_packet,omitempty"`
	// Tamper lists what differs from the signed firmware while the
	// warning is not acknowledged (sipguard firmware).
	Tamper []string `json:"tamper,omitempty"`
	// State is the state file and what became of it at start; nil from a
	// daemon that does not report it.
	State *StateFile `json:"state,omitempty"`
	// RejectedUpdates are the updates that failed their trial on this
	// box: an update disk holding one is not installed from again.
	RejectedUpdates []RejectedUpdate `json:"rejected_updates,omitempty"`
	// Dashboard is the HTTPS dashboard; nil when it is off.
	Dashboard *Dashboard `json:"dashboard,omitempty"`
	// Management is the box's management address, clock and mDNS name;
	// nil from a daemon that does not report them.
	Management *Management `json:"management,omitempty"`
	// Syslog is the remote syslog: sent, dropped (queue full), errors;
	// nil when off.
	Syslog *remotelog.Status `json:"syslog,omitempty"`
}

// Dashboard is the HTTPS dashboard and API on the management address.
type Dashboard struct {
	// Fingerprint is the SHA-256 of its certificate, as uppercase hex
	// pairs joined by ':': compare it with what the browser or a remote
	// command line shows on its first visit.
	Fingerprint string `json:"fingerprint"`
	// Listening says it serves; Problem says why not, or why the password
	// cannot be kept.
	Listening bool   `json:"listening"`
	Problem   string `json:"problem,omitempty"`
	// PasswordSet says the administrator's password is set: without one,
	// the first visit from the office sets it.
	PasswordSet bool `json:"password_set"`
}

// StateFile is the file the daemon keeps its lists, bans and attack log
// in, and what became of it when the daemon started.
type StateFile struct {
	Path string `json:"path,omitempty"` // the file in use; empty: none
	// Kept says the file outlives a restart: false for a file in memory
	// (the disk could not take one) or none at all.
	Kept bool `json:"kept"`
	// MovedAside is where a state file that could not be used was moved
	// at start, content untouched; Problem says why it could not be used,
	// or why nothing is kept.
	MovedAside string `json:"moved_aside,omitempty"`
	Problem    string `json:"problem,omitempty"`
	// Skipped counts records that could not be read: passed over, the rest
	// of the file is in use.
	Skipped int `json:"skipped,omitempty"`
	// SetAside lists the files set aside, this start or before, still on
	// the disk.
	SetAside []string `json:"set_aside,omitempty"`
	// Note says it in one line, such as "moved aside: damaged: invalid
	// database, /data/state.db.corrupt-20260304T050607Z"; empty when all
	// is well.
	Note string `json:"note,omitempty"`
}

// RejectedUpdate is an update that failed its trial: it never reported
// healthy, and the box went back to the firmware it ran before.
type RejectedUpdate struct {
	Version string `json:"version"`
	Digest  string `json:"digest"` // SHA-256 of the signed manifest and its signature
}

// StatusOf returns the kernel's part of the status: list sizes and rule
// counters.
func StatusOf(st *netfilter.Stats) Status {
	out := Status{Lists: map[string]ListSize{}, Counters: map[string]uint64{}, Inspection: map[string]uint64{}}
	for name, sz := range st.Sizes {
		out.Lists[name] = ListSize{IPv4: sz.V4, IPv6: sz.V6}
	}
	for name, c := range st.Counters {
		out.Counters[name] = c.Packets
	}
	return out
}

// ListSize is how many entries a list holds, by family.
type ListSize struct {
	IPv4 int `json:"ipv4"`
	IPv6 int `json:"ipv6"`
}

// UnbanRequest lifts the bans of addresses or networks: the dynamic ones,
// or with Permanent the permanent ones.
type UnbanRequest struct {
	Addresses []string `json:"addresses"`
	Permanent bool     `json:"permanent,omitempty"`
}

// UnbanResponse says what was lifted.
type UnbanResponse struct {
	// Unbanned counts the addresses and networks whose bans were lifted.
	Unbanned int `json:"unbanned"`
	// Lifted are the bans lifted (sources and networks), for permanent
	// bans.
	Lifted []string `json:"lifted,omitempty"`
	// NotBanned are the addresses and networks asked for that no ban of
	// the kind covered: nothing was done for them.
	NotBanned []string `json:"not_banned,omitempty"`
}

// Entry is one address or network on the allow or deny list.
type Entry struct {
	Prefix string    `json:"prefix"`
	Note   string    `json:"note,omitempty"`
	Added  time.Time `json:"added,omitzero"`
	By     string    `json:"by,omitempty"`
}

// AddRequest puts entries on a list, all or none.
type AddRequest struct {
	Entries []Entry `json:"entries"`
}

// RemoveRequest takes prefixes off a list, or all of them, with All.
type RemoveRequest struct {
	Prefixes []string `json:"prefixes,omitempty"`
	All      bool     `json:"all,omitempty"`
}

// CountResponse says how many entries a change touched.
type CountResponse struct {
	Count int `json:"count"`
}

// Check says which lists hold an address, and why.
type Check struct {
	Address   string  `json:"address"`
	Country   string  `json:"country,omitempty"` // ISO 3166 code, when the database knows it
	Allow     []Entry `json:"allow,omitempty"`
	Deny      []Entry `json:"deny,omitempty"`
	Permanent *Ban    `json:"permanent,omitempty"` // the permanent ban on a network holding it
	Dynamic   *Ban    `json:"dynamic,omitempty"`   // the temporary ban in force
}

// Ban is one ban in force, as the dynamic list shows it.
type Ban struct {
	Source    string        `json:"source"`
	Reason    string        `json:"reason,omitempty"`
	UserAgent string        `json:"user_agent,omitempty"`
	Country   string        `json:"country,omitempty"`    // ISO 3166 code, when known
	At        time.Time     `json:"at,omitzero"`          // when a permanent ban was made
	Expires   time.Duration `json:"expires_ns,omitempty"` // time left of a temporary ban
	Bans      int           `json:"bans,omitempty"`       // how many bans made a permanent one
}

// Bans is the dynamic list: the permanent bans and the temporary ones.
type Bans struct {
	Permanent []Ban `json:"permanent"`
	Temporary []Ban `json:"temporary"`
}

// Report is the attack report of the period [From, To).
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Events counts the period's bans, permanent bans and alerts;
	// Attacks the events of the detection, by reason.
	Events    int            `json:"events"`
	Attacks   map[string]int `json:"attacks,omitempty"`
	Bans      int            `json:"bans"`      // dynamic bans made
	Permanent int            `json:"permanent"` // permanent bans made
	Alerts    int            `json:"alerts"`
	// The top lists hold the most frequent values first.
	TopSources    []Count `json:"top_sources"`
	TopUserAgents []Count `json:"top_user_agents"`
	TopExtensions []Count `json:"top_extensions"`
	// Partial says events of the period have aged out of the attack log:
	// the counts of whole days come from the daily counters, the top lists
	// from the events left.
	Partial bool `json:"partial,omitempty"`
	// Outbound are the office's outbound calls of the last hour (whatever
	// the period), per calling extension, the most calls first (at most
	// Top of them).
	Outbound []OutboundCalls `json:"outbound_calls,omitempty"`
}

// OutboundCalls are one extension's new outbound calls in the last hour,
// as the toll-fraud watch counts them.
type OutboundCalls struct {
	Extension   string    `json:"extension"`
	Calls       int       `json:"calls"`
	HighRisk    int       `json:"high_risk"` // to high-risk or blocked destinations
	OffHours    int       `json:"off_hours"` // outside office hours
	LastDialled string    `json:"last_dialled"`
	LastCall    time.Time `json:"last_call"`
}

// Count is how many attack events carried one value (a report's top lists):
// a source, a User-Agent, an extension.
type Count struct {
	Value   string `json:"value"`
	Count   int    `json:"count"`
	Country string `json:"country,omitempty"` // of a source, when known
}

// ReportQuery chooses the report's period: a day (YYYY-MM-DD, in the
// box's time zone), or the time since now minus Since; neither is today.
// Top bounds each top list.
type ReportQuery struct {
	Day   string
	Since time.Duration
	Top   int
}

// DefaultTop is how long the report's top lists are unless asked.
const DefaultTop = 10

// Backend is what the API serves: the running daemon.
type Backend interface {
	Status(context.Context) (Status, error)
	Bans(context.Context) (Bans, error)
	Report(context.Context, ReportQuery) (Report, error)
	// Reload reads the configuration file again and puts it in force; a
	// bad file changes nothing.
	Reload(context.Context) error
	// Unban lifts the bans covering each prefix (an address or a
	// network): the dynamic ones, or with permanent the permanent ones. A
	// dynamic unban of a permanent ban is refused (ErrBadRequest).
	Unban(ctx context.Context, prefixes []netip.Prefix, permanent bool) (UnbanResponse, error)
	List(ctx context.Context, list string) ([]Entry, error)
	Add(ctx context.Context, list string, entries []Entry) (int, error)
	Remove(ctx context.Context, list string, prefixes []netip.Prefix, all bool) (int, error)
	Check(ctx context.Context, a netip.Addr) (Check, error)
	// Board reports the board and what its LEDs show.
	Board(context.Context) (Board, error)
	// Press presses the simulated board's button for hold; a real board's
	// button is pressed by hand (ErrBadRequest).
	Press(ctx context.Context, hold time.Duration) error
	// Halt asks the box's init to reboot or power off.
	Halt(ctx context.Context, action string) error
	// Firmware reports the running firmware and its last tamper check.
	Firmware(context.Context) (Firmware, error)
	// AckTamper acknowledges the tamper warning shown now.
	AckTamper(context.Context) error
	// Update installs an update bundle into the other root slot.
	Update(ctx context.Context, bundle io.Reader) (Update, error)
	// GeoIP reports the country database and the country filter.
	GeoIP(context.Context) (GeoIP, error)
	// UpdateGeoIP looks for a new country database now.
	UpdateGeoIP(context.Context) (GeoIP, error)
	// Feeds reports each blocklist feed.
	Feeds(context.Context) ([]feeds.Status, error)
	// RefreshFeeds refreshes one feed, or every enabled one when name is
	// empty, now.
	RefreshFeeds(ctx context.Context, name string) ([]feeds.Status, error)
	// NotifyStatus reports the notifications: per channel, sent, queued,
	// last error.
	NotifyStatus(context.Context) (any, error)
	// TestNotify sends a test message through every configured channel.
	TestNotify(context.Context) error
	BackupBackend
	TokenBackend
}

// FeedRefresh is the body of POST /v1/feeds/refresh.
type FeedRefresh struct {
	Name string `json:"name,omitempty"` // empty: every enabled feed
}

// GeoIP is the country database in use and the country filter.
type GeoIP struct {
	Mode      string        `json:"mode"`                // off, block or allow-only
	Countries []string      `json:"countries,omitempty"` // the countries the filter lists
	Prefixes  int           `json:"prefixes"`            // networks of those countries in the kernel set
	Database  *geoip.Info   `json:"database,omitempty"`  // nil without a database
	Update    *geoip.Status `json:"update,omitempty"`    // nil without an update source
}

// Firmware is the running firmware and its last check against the signed
// manifest.
type Firmware struct {
	Version string    `json:"version,omitempty"` // of the running firmware
	Board   string    `json:"board,omitempty"`
	Slot    string    `json:"slot,omitempty"`   // the root slot it runs from
	Signed  string    `json:"signed,omitempty"` // the version the slot's manifest signs
	Checked time.Time `json:"checked,omitzero"`
	// Tamper lists what differs from the signed manifest; the warning
	// stays until acknowledged.
	Tamper       []string `json:"tamper,omitempty"`
	Acknowledged bool     `json:"acknowledged,omitempty"`
	Error        string   `json:"error,omitempty"` // why nothing could be checked
	// Rejected are the updates that failed their trial on this box, as
	// the boot state remembers them: not installed from an update disk
	// again.
	Rejected []RejectedUpdate `json:"rejected,omitempty"`
}

// Update is an installed update.
type Update struct {
	Version string `json:"version"`
	Slot    string `json:"slot"` // the slot it starts from, at the next boot, for one try
}

// MaxBundle bounds an uploaded update bundle.
const MaxBundle = 512 << 20

// Board is the board the box runs on and what its LEDs show.
type Board struct {
	Name      string       `json:"name,omitempty"` // the board's profile; empty without a board
	Title     string       `json:"title,omitempty"`
	Simulated bool         `json:"simulated"`
	LEDs      *leds.Status `json:"leds,omitempty"`
	// Lit is the simulated board's LEDs as they are lit now, such as
	// "R○ G● B○ green".
	Lit string `json:"lit,omitempty"`
}

// Press is the body of POST /v1/button.
type Press struct {
	Hold string `json:"hold"` // how long the button is held, e.g. "10s"
}

// MaxHold bounds a simulated press.
const MaxHold = time.Minute

// Halt actions.
const (
	HaltReboot   = "reboot"
	HaltPowerOff = "poweroff"
)

// ErrBadRequest marks a request the API refuses: nothing was changed.
var ErrBadRequest = errors.New("bad request")

// errorBody is the body of a refused or failed request.
type errorBody struct {
	Error string `json:"error"`
}

// PasswordHeader carries the backup password of GET /v1/backup and POST
// /v1/restore; the socket is root's and its group's only.
const PasswordHeader = "Sipguard-Backup-Password"

// BackupBackend is what the API serves of the backups.
type BackupBackend interface {
	// Backup returns an encrypted backup of the configuration file, the
	// lists and the permanent bans.
	Backup(ctx context.Context, password string) ([]byte, error)
	// Restore checks an encrypted backup whole, then applies it as one
	// step: the configuration file, the lists and the permanent bans, and
	// the daemon reloads. A backup refused (ErrBadRequest) changes nothing.
	Restore(ctx context.Context, password string, file []byte) (Restored, error)
}

// Restored is what POST /v1/restore applied.
type Restored struct {
	Firmware  string    `json:"firmware"` // the firmware version that made the backup
	Created   time.Time `json:"created"`
	Config    bool      `json:"config"` // the configuration file was replaced
	Allow     int       `json:"allow"`
	Deny      int       `json:"deny"`
	Permanent int       `json:"permanent"`
}

// Token is an API token, without its secret: the secret is shown once,
// when the token is made, and the box keeps only its hash.
type Token struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Name string `json:"name"`
}

// NewToken is a token just made, with its secret: what a client sends as
// "Authorization: Bearer <secret>".
type NewToken struct {
	Token
	Secret string `json:"secret"`
}

// TokenBackend is what the API serves of the API tokens. Over HTTPS, a
// token never makes a token: only the unix socket and a dashboard session
// may.
type TokenBackend interface {
	// Tokens lists the API tokens, oldest first.
	Tokens(context.Context) ([]Token, error)
	// CreateToken makes a token named name (ErrBadRequest for a bad or
	// taken name).
	CreateToken(ctx context.Context, name string) (NewToken, error)
	// RevokeToken deletes the token id (ErrBadRequest if there is none).
	RevokeToken(ctx context.Context, id string) error
}
