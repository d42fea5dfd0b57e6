package cli

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
	"github.com/sipguard/sipguard/netfilter"
)

// statusOutput is what status prints: the status, and the lists asked for.
type statusOutput struct {
	api.Status
	Allow []api.Entry `json:"allow,omitempty"`
	Deny  []api.Entry `json:"deny,omitempty"`
	Bans  *api.Bans   `json:"bans,omitempty"`
	// CrowdSec is the link to CrowdSec, from a daemon that reports it.
	CrowdSec *crowdsec.Status `json:"crowdsec,omitempty"`
}

func statusCmd(_ Env, dc *daemonConn) *cobra.Command {
	var all, allow, deny, dynamic bool
	var asJSON *bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print how many addresses each list holds, and what was dropped; with flags, the lists",
		Long: `Print how many addresses each list holds (Allow, Deny, Dynamic (permanent),
Dynamic (temporary)), what each rule accepted or dropped and the SIP
inspection's counters; then the lists asked for: --allow, --deny,
--dynamic (each ban with its reason, User-Agent, country and time left),
or --all of them.

With no daemon running, status reads the kernel: the counts, and the
temporary bans with their time left; the allow and deny lists need the
daemon.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all {
				allow, deny, dynamic = true, true, true
			}
			client := dc.client()
			st, err := client.Status(cmd.Context())
			daemon := !errors.Is(err, api.ErrNoDaemon)
			if !daemon {
				st, err = kernelStatus()
			}
			if err != nil {
				return err
			}
			out := statusOutput{Status: st}
			if daemon {
				if cs, err := client.CrowdSec(cmd.Context()); err == nil {
					out.CrowdSec = &cs
				}
			}
			var missing []string // lists that need the daemon
			for _, l := range []struct {
				name string
				want bool
				dst  *[]api.Entry
			}{{"allow", allow, &out.Allow}, {"deny", deny, &out.Deny}} {
				switch {
				case !l.want:
				case !daemon:
					missing = append(missing, l.name)
				default:
					if *l.dst, err = client.List(cmd.Context(), l.name); err != nil {
						return err
					}
					if *l.dst == nil {
						*l.dst = []api.Entry{}
					}
				}
			}
			if dynamic {
				bans, err := readBans(cmd.Context(), dc.client())
				if err != nil {
					return err
				}
				out.Bans = &bans
			}
			w := cmd.OutOrStdout()
			if *asJSON {
				err = writeJSON(w, out)
			} else {
				err = writeStatus(w, out)
			}
			if err == nil && len(missing) > 0 {
				err = fmt.Errorf("the %s list: %w", strings.Join(missing, " and "), api.ErrNoDaemon)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&all, "all", false, "print the allow, deny and dynamic lists")
	f.BoolVar(&allow, "allow", false, "print the allow list")
	f.BoolVar(&deny, "deny", false, "print the deny list")
	f.BoolVar(&dynamic, "dynamic", false, "print the dynamic list: bans with their reason, User-Agent, country and time left")
	asJSON = jsonFlag(cmd)
	return cmd
}

// writeStatus prints the status tables, then the lists asked for.
func writeStatus(w io.Writer, out statusOutput) error {
	st := out.Status
	if len(st.Tamper) > 0 {
		fmt.Fprintf(w, "TAMPER WARNING: the firmware differs from what was signed (%s); see sipguard firmware\n\n", strings.Join(st.Tamper, "; "))
	}
	if sf := st.State; sf != nil && sf.Note != "" {
		if sf.Problem != "" || sf.Skipped > 0 {
			fmt.Fprintf(w, "STATE FILE: %s\n", sf.Note)
		} else {
			fmt.Fprintf(w, "State file: %s\n", sf.Note)
		}
	}
	for _, u := range st.RejectedUpdates {
		digest := u.Digest
		if len(digest) > 12 {
			digest = digest[:12]
		}
		fmt.Fprintf(w, "Update %s (manifest %s) failed its trial: an update disk holding it is not installed from again\n", u.Version, digest)
	}
	if (st.State != nil && st.State.Note != "") || len(st.RejectedUpdates) > 0 {
		fmt.Fprintln(w)
	}
	total := func(name string) string { return fmt.Sprint(st.Lists[name].IPv4 + st.Lists[name].IPv6) }
	writeTable(w, []string{"LIST", "NUM OF IPS"}, [][]string{
		{"Allow", total("allow")},
		{"Deny", total("deny")},
		{"Dynamic (permanent)", total("permanent")},
		{"Dynamic (temporary)", total("dynamic")},
		{"Countries (ranges)", total("countries")},
		{"Feeds (ranges)", total("feeds")},
		{"CrowdSec (ranges)", total("crowdsec")},
	})
	if out.CrowdSec != nil {
		fmt.Fprintf(w, "CrowdSec: %s\n", crowdSecLine(*out.CrowdSec))
	}
	var rows [][]string
	for _, name := range netfilter.Counters {
		rows = append(rows, []string{name, fmt.Sprint(st.Counters[name])})
	}
	writeTable(w, []string{"RULE (accepted or dropped)", "PACKETS"}, rows)
	if len(st.Inspection) > 0 {
		rows = nil
		for _, name := range slices.Sorted(maps.Keys(st.Inspection)) {
			rows = append(rows, []string{name, fmt.Sprint(st.Inspection[name])})
		}
		rows = append(rows, []string{"sources tracked", fmt.Sprint(st.Sources)})
		if st.FirstPacket != "" {
			rows = append(rows, []string{"first-packet verdict", st.FirstPacket})
		}
		writeTable(w, []string{"SIP INSPECTION", "COUNT"}, rows)
	}
	if l := st.Syslog; l != nil {
		state := "not connected"
		if l.Connected {
			state = "connected"
		}
		fmt.Fprintf(w, "\nRemote syslog %s: %s, %d sent, %d dropped (queue full), %d errors", l.Address, state, l.Sent, l.Dropped, l.Errors)
		if l.LastError != "" {
			fmt.Fprintf(w, "; last: %s", l.LastError)
		}
		fmt.Fprintln(w)
	}
	writeManagement(w, st.Management)
	for _, l := range []struct {
		title   string
		entries []api.Entry
	}{{"Allow list", out.Allow}, {"Deny list", out.Deny}} {
		if l.entries == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s (%d):\n", l.title, len(l.entries))
		if err := writeEntries(w, l.entries); err != nil {
			return err
		}
	}
	if d := st.Dashboard; d != nil {
		writeDashboard(w, d)
	}
	if b := out.Bans; b != nil {
		fmt.Fprintf(w, "\nDynamic list (%d permanent, %d temporary):\n", len(b.Permanent), len(b.Temporary))
		return writeBans(w, *b)
	}
	return nil
}

// writeDashboard prints the dashboard's state and its certificate's
// fingerprint, to compare with what a browser shows.
func writeDashboard(w io.Writer, d *api.Dashboard) {
	state := "serving"
	if !d.Listening {
		state = "not serving"
	}
	if !d.PasswordSet {
		state += "; no password yet: the first visit from the office sets it"
	}
	fmt.Fprintf(w, "\nDashboard: %s\n", state)
	if d.Problem != "" {
		fmt.Fprintf(w, "Dashboard problem: %s\n", d.Problem)
	}
	fmt.Fprintf(w, "Dashboard certificate fingerprint SHA-256 %s\n", d.Fingerprint)
}

// kernelStatus reads the status from the kernel alone, when no daemon runs.
func kernelStatus() (api.Status, error) {
	st, err := withFirewall((*netfilter.Firewall).Stats)
	if err != nil {
		return api.Status{}, err
	}
	return api.StatusOf(st), nil
}

// writeTable prints rows in sipPROT's boxed table style: the first column
// left-aligned, the others right-aligned.
func writeTable(w io.Writer, head []string, rows [][]string) {
	width := make([]int, len(head))
	for _, r := range append([][]string{head}, rows...) {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	line := "+"
	for _, n := range width {
		line += strings.Repeat("-", n+2) + "+"
	}
	row := func(r []string, center bool) {
		s := "|"
		for i, c := range r {
			pad := width[i] - len(c)
			switch {
			case center:
				s += " " + strings.Repeat(" ", pad/2) + c + strings.Repeat(" ", pad-pad/2) + " |"
			case i == 0:
				s += " " + c + strings.Repeat(" ", pad) + " |"
			default:
				s += " " + strings.Repeat(" ", pad) + c + " |"
			}
		}
		fmt.Fprintln(w, s)
	}
	fmt.Fprintln(w, line)
	row(head, true)
	fmt.Fprintln(w, line)
	for _, r := range rows {
		row(r, false)
		fmt.Fprintln(w, line)
	}
}
