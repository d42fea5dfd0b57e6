package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

func firmwareCmd(_ Env, dc *daemonConn) *cobra.Command {
	var asJSON *bool
	cmd := &cobra.Command{
		Use:   "firmware",
		Short: "Show the running firmware and whether it is as its publisher signed it",
		Long: `Show the running firmware: version, board, root slot, and the last check
of the root slot and the boot files against the slot's signed manifest (at
boot and daily). A difference is a tamper warning: the LEDs show a fault
until it is acknowledged with "sipguard firmware ack".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := dc.client().Firmware(cmd.Context())
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(cmd.OutOrStdout(), f)
			}
			printFirmware(cmd.OutOrStdout(), f)
			return nil
		},
	}
	asJSON = jsonFlag(cmd)
	cmd.AddCommand(&cobra.Command{
		Use:   "ack",
		Short: "Acknowledge the tamper warning shown now (a new difference raises it again)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := dc.client().AckTamper(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "tamper warning acknowledged")
			return nil
		},
	})
	return cmd
}

func printFirmware(w io.Writer, f api.Firmware) {
	fmt.Fprintf(w, "version: %s\nboard:   %s\nslot:    %s\n", orNone(f.Version), orNone(f.Board), orNone(f.Slot))
	switch {
	case f.Error != "":
		fmt.Fprintf(w, "check:   %s\n", f.Error)
	case len(f.Tamper) > 0:
		state := "TAMPER WARNING"
		if f.Acknowledged {
			state = "tamper warning (acknowledged)"
		}
		fmt.Fprintf(w, "check:   %s, %s\n", state, f.Checked.Format("2006-01-02 15:04"))
		for _, t := range f.Tamper {
			fmt.Fprintf(w, "  %s\n", t)
		}
	case !f.Checked.IsZero():
		fmt.Fprintf(w, "check:   as signed (%s), %s\n", f.Signed, f.Checked.Format("2006-01-02 15:04"))
	default:
		fmt.Fprintln(w, "check:   not yet")
	}
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func updateCmd(_ Env, dc *daemonConn) *cobra.Command {
	var reboot bool
	cmd := &cobra.Command{
		Use:   "update BUNDLE",
		Short: "Install a signed update bundle into the other root slot",
		Long: `Install an update bundle (make image writes one beside the card image). The
box checks the bundle's signature, board and version before it writes
anything, writes the other root slot, checks what it wrote, and starts it at
the next boot for one try: if the new firmware does not report healthy, the
following boot goes back to the running one. A refused bundle changes
nothing. With --reboot the box restarts at once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			c := dc.client()
			u, err := c.Update(cmd.Context(), f)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed %s in slot %s: it starts at the next boot, for one try\n", u.Version, u.Slot)
			if reboot {
				if err := c.Halt(cmd.Context(), api.HaltReboot); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "reboot requested")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&reboot, "reboot", false, "reboot into the new firmware at once")
	return cmd
}
