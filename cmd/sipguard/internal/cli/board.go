package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

func ledsCmd(_ Env, dc *daemonConn) *cobra.Command {
	var (
		asJSON *bool
		watch  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "leds",
		Short: "Show what the box's LEDs say (and, on the simulated board, how they are lit)",
		Long: `Show the board the box runs on and what its LEDs say: the state shown
(booting, protecting, attack blocked, fault, reset armed …), its pattern and
the faults behind it. On the simulated board, also the LEDs as they are lit.
With --watch, print a line each time that changes, until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := dc.client()
			out := cmd.OutOrStdout()
			b, err := c.Board(cmd.Context())
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(out, b)
			}
			if watch <= 0 {
				printBoard(out, b)
				return nil
			}
			last := ""
			t := time.NewTicker(watch)
			defer t.Stop()
			for {
				if line := boardLine(b); line != last {
					fmt.Fprintf(out, "%s  %s\n", time.Now().Format("15:04:05.000"), line)
					last = line
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-t.C:
				}
				if b, err = c.Board(cmd.Context()); err != nil {
					if cmd.Context().Err() != nil {
						return nil
					}
					return err
				}
			}
		},
	}
	asJSON = jsonFlag(cmd)
	cmd.Flags().DurationVar(&watch, "watch", 0, "print a line at each change, checking this often (e.g. 100ms)")
	return cmd
}

func printBoard(w io.Writer, b api.Board) {
	if b.Name == "" {
		fmt.Fprintln(w, "no board: the service runs without LEDs or button")
		return
	}
	fmt.Fprintf(w, "board:   %s (%s)\n", b.Title, b.Name)
	if l := b.LEDs; l != nil {
		fmt.Fprintf(w, "state:   %s — %s\n", l.Mode, l.Look)
		if l.Faults != 0 {
			fmt.Fprintf(w, "faults:  %s\n", l.Faults)
		}
		if !l.LastBan.IsZero() {
			fmt.Fprintf(w, "last ban: %s\n", l.LastBan.Format("2006-01-02 15:04:05"))
		}
		fmt.Fprintf(w, "LEDs:    %d\n", l.LEDs)
	}
	if b.Lit != "" {
		fmt.Fprintf(w, "lit:     %s\n", b.Lit)
	}
}

// boardLine is the board's state on one line, for --watch.
func boardLine(b api.Board) string {
	if b.LEDs == nil {
		return "no LEDs"
	}
	s := fmt.Sprintf("%s (%s)", b.LEDs.Mode, b.LEDs.Look)
	if b.LEDs.Faults != 0 {
		s += " faults: " + b.LEDs.Faults.String()
	}
	if b.Lit != "" {
		s += "  " + b.Lit
	}
	return s
}

func buttonCmd(_ Env, dc *daemonConn) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "button",
		Short: "Press the simulated board's button",
	}
	var hold time.Duration
	press := &cobra.Command{
		Use:   "press",
		Short: "Press the button for --hold (a short press shows the status; 10 s resets to factory settings)",
		Long: `Press the simulated board's front button, as a person would: a short press
(under 2 s) makes the LEDs show the status; holding it arms the factory reset
(fast red blink) and, at 10 s, wipes the configuration, the lists, the bans
and the attack log and starts again on the defaults. Releasing before 10 s
cancels. A real board's button is pressed by hand.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if hold <= 0 || hold > api.MaxHold {
				return usageError{fmt.Errorf("--hold %v: want a duration up to %v", hold, api.MaxHold)}
			}
			if err := dc.client().Press(cmd.Context(), hold); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pressed for %v\n", hold)
			return nil
		},
	}
	press.Flags().DurationVar(&hold, "hold", 200*time.Millisecond, "how long the button is held")
	cmd.AddCommand(press)
	return cmd
}

func haltCmd(_ Env, dc *daemonConn, action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action,
		Short: short,
		Long: short + `. The service stops cleanly first: bans stay in force until the
kernel goes, the data partition is synced and unmounted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := dc.client().Halt(cmd.Context(), action); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s requested\n", action)
			return nil
		},
	}
}
