// Package cli is sipguard's command line. It is a value with its own
// standard streams, so tests run it in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// Env is what a command sees of the world.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Version        string
}

// Main runs the command line with args (without the program name) and
// returns the exit code.
func Main(ctx context.Context, env Env, args []string) int {
	root := newRoot(env)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(env.Stderr, "sipguard:", err)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError marks errors in how a command was called.
type usageError struct{ error }

func newRoot(env Env) *cobra.Command {
	root := &cobra.Command{
		Use:           "sipguard",
		Short:         "SIP firewall box: bridges two ports and bans attackers in the kernel",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	dc := newDaemonConn(root, env)
	root.AddCommand(
		versionCmd(env),
		daemonCmd(env, dc),
		statusCmd(env, dc),
		banCmd(env),
		unbanCmd(env, dc),
		bansCmd(env, dc),
		reportCmd(env, dc),
		eventsCmd(env, dc),
		configCmd(env, dc),
		checkCmd(env, dc),
		ledsCmd(env, dc),
		firmwareCmd(env, dc),
		geoipCmd(env, dc),
		feedsCmd(env, dc),
		crowdsecCmd(env, dc),
		notifyCmd(env, dc),
		updateCmd(env, dc),
		buttonCmd(env, dc),
		haltCmd(env, dc, api.HaltReboot, "Reboot the box"),
		haltCmd(env, dc, api.HaltPowerOff, "Power the box off"),
		listCmd("allow", "Addresses and networks never filtered", dc),
		listCmd("deny", "Addresses and networks always dropped", dc),
		backupCmd(env, dc),
		restoreCmd(env, dc),
		tokenCmd(env, dc),
		boxCmd(env),
	)
	return root
}

// versionInfo is what version prints.
type versionInfo struct {
	Version string `json:"version"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

func versionCmd(env Env) *cobra.Command {
	var asJSON *bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the firmware version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionInfo{Version: env.Version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
			if *asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "sipguard %s (%s, %s/%s)\n", v.Version, v.Go, v.OS, v.Arch)
			return err
		},
	}
	asJSON = jsonFlag(cmd)
	return cmd
}

func logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
