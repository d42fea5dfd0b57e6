package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
)

func configCmd(_ Env, dc *daemonConn) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Read, change or check the configuration file, or print the defaults"}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate FILE",
		Short: "Check a configuration file: every problem, with its key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := config.Load(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", args[0])
			return nil
		},
	}, &cobra.Command{
		Use:   "defaults",
		Short: "Print a configuration file with every key at its default, commented",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(config.Default())
			return err
		},
	}, configGetCmd(dc), configSetCmd(dc))
	return cmd
}

// completeKeys offers the configuration's keys as the first argument.
func completeKeys(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return config.Keys(), cobra.ShellCompDirectiveNoFileComp
}

func configGetCmd(dc *daemonConn) *cobra.Command {
	var file string
	var asJSON *bool
	cmd := &cobra.Command{
		Use:   "get [KEY]",
		Short: "Print the effective value of a key (e.g. sip.register_limit), or the whole configuration",
		Long: `Print the effective value of a key, written section.key (e.g.
sip.register_limit), or of a whole section, or with no key the whole
configuration: the file's values over the defaults. The file is --config,
else the running daemon's; with neither, the defaults.`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				path string
				data []byte
				err  error
			)
			if c := dc.client(); c.Remote != nil && file == "" {
				// A box over HTTPS: its running daemon's file, read through
				// the API.
				var conf api.Config
				if conf, err = c.Config(cmd.Context()); err != nil {
					return err
				}
				path, data = c.Remote.Addr()+":"+conf.File, []byte(conf.Text)
			} else if path, _, err = configPath(cmd.Context(), file, c); err != nil {
				return err
			} else if path == "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "sipguard: no configuration file (no --config, no daemon running with one): the defaults")
			} else if data, err = os.ReadFile(path); err != nil {
				return err
			}
			var v any
			if len(args) == 0 {
				v, err = config.Effective(data)
			} else {
				v, err = config.Get(data, args[0])
			}
			if err != nil {
				if path != "" {
					err = fmt.Errorf("%s: %w", path, err)
				}
				return err
			}
			if *asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), config.Format(v))
			return err
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "the configuration file (default: the running daemon's)")
	asJSON = jsonFlag(cmd)
	return cmd
}

func configSetCmd(dc *daemonConn) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Change one key of the configuration file, and have the running daemon apply it",
		Long: `Change one key (section.key, e.g. sip.register_limit) of the configuration
file: --config, else the running daemon's. The file's comments and other
keys stay as they are. The whole result is checked first: a bad value is
refused with its key and the file is left unchanged. The file is replaced
atomically, then the daemon running with it reads it again; it applies
the change live, or keeps the settings in force and says why.

Lists take a,b,c or a TOML array: sipguard config set sip.protocols udp,tcp`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			if c := dc.client(); c.Remote != nil && file == "" {
				return setOnBox(cmd, c, args[0], args[1])
			}
			path, daemonFile, err := configPath(cmd.Context(), file, dc.client())
			if err != nil {
				return err
			}
			if path == "" {
				return usageError{errors.New("no configuration file: give --config FILE (the daemon runs without one, or is not running)")}
			}
			data, err := os.ReadFile(path)
			if err != nil && !(errors.Is(err, fs.ErrNotExist) && file != "") {
				return err
			}
			edited, err := config.Set(data, args[0], args[1])
			if err != nil {
				return fmt.Errorf("%s: %w (the file is unchanged)", path, err)
			}
			if err := config.WriteFile(path, edited); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !sameFile(path, daemonFile) {
				fmt.Fprintf(out, "%s: %s = %s written (no daemon running with this file)\n", path, args[0], args[1])
				return nil
			}
			if err := dc.client().Reload(cmd.Context()); err != nil {
				return fmt.Errorf("%s: written, but not applied: %w", path, err)
			}
			fmt.Fprintf(out, "%s: %s = %s written and applied\n", path, args[0], args[1])
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "the configuration file (default: the running daemon's)")
	return cmd
}

// setOnBox changes a key of a box's configuration over HTTPS: the box
// checks it with config set's rules, writes its file and applies it.
func setOnBox(cmd *cobra.Command, c api.Client, key, value string) error {
	res, err := c.SetConfig(cmd.Context(), []api.ConfigChange{{Key: key, Value: value}})
	if err != nil {
		return fmt.Errorf("box %s: %w (the file is unchanged)", c.Remote.Addr(), err)
	}
	out := cmd.OutOrStdout()
	if !res.Applied {
		fmt.Fprintf(out, "box %s: %s = %s written; not applied until a restart: %s\n", c.Remote.Addr(), key, value, res.NotApplied)
		return nil
	}
	fmt.Fprintf(out, "box %s: %s = %s written and applied\n", c.Remote.Addr(), key, value)
	return nil
}

// configPath names the file config get and set work on: flag if given,
// else the running daemon's (empty if none). It also returns the file the
// running daemon reads, if any.
func configPath(ctx context.Context, flag string, c api.Client) (path, daemonFile string, err error) {
	st, err := c.Status(ctx)
	switch {
	case errors.Is(err, api.ErrNoDaemon):
	case err != nil:
		return "", "", err
	default:
		daemonFile = st.Config
	}
	if flag != "" {
		return flag, daemonFile, nil
	}
	return daemonFile, daemonFile, nil
}

// sameFile reports whether a and b name the same existing file.
func sameFile(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA != nil || errB != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return os.SameFile(fa, fb)
}
