package notify

import (
	"cmp"
	"fmt"
	"html"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// Ban is a ban in force, as far as a summary tells of it.
type Ban struct {
	Source    string // the banned address or network, as a report's top sources write it
	UserAgent string
	Country   string // ISO 3166 code, when known
}

// Bans are the bans in force.
type Bans struct {
	Permanent []Ban
	Temporary []Ban
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
}

// AlertBatch is what one alert message tells: the events of a period.
type AlertBatch struct {
	From   time.Time     `json:"from"` // the first event's time
	To     time.Time     `json:"to"`   // the last event's time
	Events []store.Event `json:"events"`
	// Omitted counts the events of the period beyond the listed ones.
	Omitted int `json:"omitted,omitempty"`
	// Tally counts all the period's events, the omitted ones included.
	Tally store.Tally `json:"tally"`
}

// SourceStatus is the state of an IP-set source: a blocklist feed or the
// GeoIP database.
type SourceStatus struct {
	Name        string    `json:"name"`
	Entries     int       `json:"entries"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// BanCount is how many bans are in force.
type BanCount struct {
	Temporary int `json:"temporary"`
	Permanent int `json:"permanent"`
}

// Source is one of the top sources of a summary.
type Source struct {
	Source    string `json:"source"`
	Count     int    `json:"count"`
	Country   string `json:"country,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Banned    string `json:"banned,omitempty"` // "temporary", "permanent" or empty
}

// Summary is what the daily summary tells.
type Summary struct {
	Host    string       `json:"host"`
	Report  store.Report `json:"report"` // the period's attack report
	InForce BanCount     `json:"in_force"`
	// Sources are the report's top sources with country, User-Agent and
	// ban state, as far as known.
	Sources  []Source       `json:"top_sources"`
	Feeds    []SourceStatus `json:"feeds,omitempty"`
	GeoIP    *SourceStatus  `json:"geoip,omitempty"`
	Firmware *Firmware      `json:"firmware,omitempty"`
}

// NewSummary builds a summary from the period's report, the bans in force
// (which give the top sources' User-Agent, country and ban state when the
// report does not), and the status of the firmware, GeoIP and feeds; any
// of the last three may be nil.
func NewSummary(r store.Report, bans Bans, fw *Firmware, geoip *SourceStatus, feeds []SourceStatus) Summary {
	type info struct{ ua, country, banned string }
	known := map[string]info{}
	add := func(list []Ban, banned string) {
		for _, b := range list {
			known[b.Source] = info{b.UserAgent, b.Country, banned}
		}
	}
	add(bans.Temporary, "temporary")
	add(bans.Permanent, "permanent")
	s := Summary{Report: r, InForce: BanCount{Temporary: len(bans.Temporary), Permanent: len(bans.Permanent)},
		Sources: make([]Source, 0, len(r.TopSources)), Feeds: feeds, GeoIP: geoip, Firmware: fw}
	for _, c := range r.TopSources {
		k := known[c.Value]
		s.Sources = append(s.Sources, Source{Source: c.Value, Count: c.Count, Country: cmp.Or(c.Country, k.country), UserAgent: k.ua, Banned: k.banned})
	}
	return s
}

// Attacks counts the summary's attacks, all reasons together.
func (s Summary) Attacks() int {
	n := 0
	for _, c := range s.Report.Attacks {
		n += c
	}
	return n
}

// tamper says whether the firmware shows an unacknowledged tamper warning.
func (s Summary) tamper() bool {
	return s.Firmware != nil && len(s.Firmware.Tamper) > 0 && !s.Firmware.Acknowledged
}

// Subject is the summary's mail subject, such as
// "sipguard box1: 12 attacks, 5 bans on 2026-11-25"; the day is the last
// one the period covers.
func (s Summary) Subject() string {
	warn := ""
	if s.tamper() {
		warn = "TAMPER WARNING, "
	}
	day := s.Report.To.Add(-time.Nanosecond).Format(time.DateOnly)
	return fmt.Sprintf("sipguard %s: %s%s, %s on %s", s.Host, warn,
		plural(s.Attacks(), "attack"), plural(s.Report.Bans+s.Report.Permanent, "ban"), day)
}

const stamp = "2006-01-02 15:04"

// Text is the summary's plain-text body.
func (s Summary) Text() string {
	var b strings.Builder
	r := s.Report
	fmt.Fprintf(&b, "Daily summary of sipguard %s\n", s.Host)
	fmt.Fprintf(&b, "Period: %s to %s (%s)\n", r.From.Format(stamp), r.To.Format(stamp), r.To.Format("MST"))
	if r.Partial {
		b.WriteString("Part of the period has aged out of the attack log: the counts come from the daily counters, the top lists from the events left.\n")
	}
	if s.tamper() {
		fmt.Fprintf(&b, "\nTAMPER WARNING: %s differ from the signed firmware manifest:\n", plural(len(s.Firmware.Tamper), "file"))
		for _, f := range s.Firmware.Tamper {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}

	fmt.Fprintf(&b, "\nAttacks: %d\n", s.Attacks())
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, reason := range sortedByCount(r.Attacks) {
		fmt.Fprintf(tw, "  %s\t%d\n", reason, r.Attacks[reason])
	}
	tw.Flush()
	fmt.Fprintf(&b, "Bans made: %d temporary, %d permanent; alerts: %d\n", r.Bans, r.Permanent, r.Alerts)
	fmt.Fprintf(&b, "Bans in force: %d temporary, %d permanent\n", s.InForce.Temporary, s.InForce.Permanent)

	b.WriteString("\nTop sources\n")
	if len(s.Sources) == 0 {
		b.WriteString("  none\n")
	}
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, src := range s.Sources {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", src.Source, src.Count, dash(src.Country), dash(src.UserAgent), dash(src.Banned))
	}
	tw.Flush()
	writeCounts(&b, "Top User-Agents", r.TopUserAgents)
	writeCounts(&b, "Top extensions tried", r.TopExtensions)

	if len(s.Feeds) > 0 {
		b.WriteString("\nBlocklist feeds\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, f := range s.Feeds {
			writeSource(tw, f)
		}
		tw.Flush()
	}
	if s.GeoIP != nil {
		b.WriteString("\nGeoIP database\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		writeSource(tw, *s.GeoIP)
		tw.Flush()
	}
	if fw := s.Firmware; fw != nil {
		b.WriteString("\nFirmware: ")
		fmt.Fprintf(&b, "%s", cmp.Or(fw.Version, "unknown version"))
		if fw.Slot != "" {
			fmt.Fprintf(&b, ", slot %s", fw.Slot)
		}
		switch {
		case fw.Error != "":
			fmt.Fprintf(&b, "; not checked: %s\n", fw.Error)
		case len(fw.Tamper) > 0 && fw.Acknowledged:
			fmt.Fprintf(&b, "; %s differ from the signed manifest (acknowledged)\n", plural(len(fw.Tamper), "file"))
		case len(fw.Tamper) > 0:
			b.WriteString("; TAMPER WARNING (see above)\n")
		case !fw.Checked.IsZero():
			fmt.Fprintf(&b, "; matches the signed manifest (checked %s)\n", fw.Checked.Format(stamp))
		default:
			b.WriteString("\n")
		}
	}
	return b.String()
}

func writeCounts(b *strings.Builder, title string, counts []store.Count) {
	fmt.Fprintf(b, "\n%s\n", title)
	if len(counts) == 0 {
		b.WriteString("  none\n")
		return
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, c := range counts {
		fmt.Fprintf(tw, "  %s\t%d\n", c.Value, c.Count)
	}
	tw.Flush()
}

func writeSource(tw *tabwriter.Writer, s SourceStatus) {
	last := "never updated"
	if !s.LastSuccess.IsZero() {
		last = "updated " + s.LastSuccess.Format(stamp)
	}
	state := "ok"
	if s.LastError != "" {
		state = "error: " + s.LastError
	}
	fmt.Fprintf(tw, "  %s\t%d entries\t%s\t%s\n", s.Name, s.Entries, last, state)
}

// Subject is the alert message's subject: the event itself when it is
// alone, the count and the reasons otherwise.
func (a AlertBatch) Subject(host string) string {
	if len(a.Events) == 1 && a.Omitted == 0 {
		e := a.Events[0]
		return fmt.Sprintf("sipguard %s: %s %s (%s)", host, actionWord(e.Action), sourceOf(e), cmp.Or(e.Reason, "block threshold"))
	}
	return fmt.Sprintf("sipguard %s: %s since %s (%s)", host, plural(a.Tally.Events, "event"),
		a.From.Format("15:04"), strings.Join(sortedByCount(a.Tally.Attacks), ", "))
}

// Text is the alert message's plain-text body.
func (a AlertBatch) Text(host string) string {
	var b strings.Builder
	if a.From.Equal(a.To) {
		fmt.Fprintf(&b, "sipguard %s at %s:\n\n", host, a.From.Format(stamp+":05 MST"))
	} else {
		fmt.Fprintf(&b, "sipguard %s, %s between %s and %s:\n\n", host, plural(a.Tally.Events, "event"),
			a.From.Format(stamp+":05"), a.To.Format(stamp+":05 MST"))
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  time\taction\tsource\tcountry\treason\tcount\tuser-agent\textension\n")
	for _, e := range a.Events {
		count := ""
		if e.Count > 0 {
			count = fmt.Sprint(e.Count)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format("15:04:05"), e.Action, sourceOf(e),
			dash(e.Country), dash(e.Reason), dash(count), dash(e.UserAgent), dash(extensionOf(e)))
	}
	tw.Flush()
	if a.Omitted > 0 {
		fmt.Fprintf(&b, "  … and %s more, not listed.\n", plural(a.Omitted, "event"))
	}
	fmt.Fprintf(&b, "\nBans: %d temporary, %d permanent; alerts: %d.\n", a.Tally.Bans, a.Tally.Permanent, a.Tally.Alerts)
	if len(a.Tally.Attacks) > 0 {
		var parts []string
		for _, r := range sortedByCount(a.Tally.Attacks) {
			parts = append(parts, fmt.Sprintf("%s %d", r, a.Tally.Attacks[r]))
		}
		fmt.Fprintf(&b, "By reason: %s.\n", strings.Join(parts, ", "))
	}
	return b.String()
}

// htmlOf wraps a plain-text body as the HTML alternative.
func htmlOf(subject, text string) string {
	return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(subject) +
		"</title></head><body><pre style=\"font-family: monospace\">" + html.EscapeString(text) + "</pre></body></html>\n"
}

func sourceOf(e store.Event) string {
	if e.Source.IsValid() {
		if e.Source.Bits() == e.Source.Addr().BitLen() {
			return e.Source.Addr().String()
		}
		return e.Source.String()
	}
	if e.Addr.IsValid() {
		return e.Addr.String()
	}
	return "-"
}

func actionWord(action string) string {
	switch action {
	case store.ActionBan:
		return "banned"
	case store.ActionPermanent:
		return "banned for good"
	case store.ActionAlert:
		return "alert from"
	}
	return action
}

// sortedByCount returns the keys, the largest count first.
func sortedByCount(m map[string]int) []string {
	return slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// extensionOf is the extension an event names and, for an outbound
// call, the number it dialled.
func extensionOf(e store.Event) string {
	if e.Dialled != "" {
		return e.Extension + " → " + e.Dialled
	}
	return e.Extension
}

func dash(s string) string { return cmp.Or(s, "-") }
