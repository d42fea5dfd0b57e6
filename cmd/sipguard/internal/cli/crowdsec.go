package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
)

func crowdsecCmd(_ Env, dc *daemonConn) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "crowdsec",
		Short: "Show the link to the CrowdSec local API: decisions enforced, bans pushed, errors",
		Long: `Show the link to the CrowdSec local API ([crowdsec] in the configuration,
docs/crowdsec.md): the mode; for the bouncer, the decisions in force and the
last pull; for the agent, the alerts sent, queued and dropped; for each, the
last error and the next try while the local API cannot be reached.`,
		Args: cobra.NoArgs,
	}
	asJSON := jsonFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		st, err := dc.client().CrowdSec(cmd.Context())
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(cmd.OutOrStdout(), st)
		}
		writeCrowdSec(cmd.OutOrStdout(), st)
		return nil
	}
	return cmd
}

// writeCrowdSec prints the link's state as a table.
func writeCrowdSec(w io.Writer, st crowdsec.Status) {
	fmt.Fprintf(w, "CrowdSec: %s\n", crowdSecLine(st))
	if st.Error != "" {
		fmt.Fprintf(w, "Error: %s\n", st.Error)
	}
	if b := st.Bouncer; b != nil {
		writeTable(w, []string{"BOUNCER", ""}, [][]string{
			{"state", b.State},
			{"decisions in force", fmt.Sprint(b.Decisions)},
			{"networks (ipv4, ipv6)", fmt.Sprintf("%d, %d", b.V4, b.V6)},
			{"added, withdrawn, ignored", fmt.Sprintf("%d, %d, %d", b.Added, b.Deleted, b.Ignored)},
			{"last pull", when(b.LastSuccess)},
			{"last error", errorAt(b.LastError, b.LastErrorAt)},
			{"next try", when(b.NextTry)},
		})
	}
	if a := st.Agent; a != nil {
		writeTable(w, []string{"AGENT", ""}, [][]string{
			{"state", a.State},
			{"alerts sent", fmt.Sprint(a.Sent)},
			{"queued", fmt.Sprint(a.Queued)},
			{"dropped (queue full)", fmt.Sprint(a.Dropped)},
			{"not pushed back (from the LAPI)", fmt.Sprint(a.Echoes)},
			{"last push", when(a.LastSuccess)},
			{"last error", errorAt(a.LastError, a.LastErrorAt)},
			{"next try", when(a.NextTry)},
		})
	}
}

// crowdSecLine says the link's state in one line, for sipguard status.
func crowdSecLine(st crowdsec.Status) string {
	if st.Mode == crowdsec.ModeOff || st.Mode == "" {
		return "off"
	}
	s := fmt.Sprintf("%s, %s", st.Mode, st.URL)
	if b := st.Bouncer; b != nil {
		s += fmt.Sprintf("; bouncer %s, %d decisions", b.State, b.Decisions)
	}
	if a := st.Agent; a != nil {
		s += fmt.Sprintf("; agent %s, %d sent, %d queued", a.State, a.Sent, a.Queued)
	}
	if st.Error != "" {
		s += "; not running: " + st.Error
	}
	return s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func errorAt(msg string, at time.Time) string {
	if msg == "" {
		return "-"
	}
	return when(at) + " " + msg
}
