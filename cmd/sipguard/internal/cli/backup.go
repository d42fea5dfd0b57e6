package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/atomicfile"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/backup"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// PasswordEnv names the environment variable a backup's password may
// come from.
const PasswordEnv = "SIPGUARD_BACKUP_PASSWORD"

// backupFiles are the files a backup or a restore works on with no
// daemon running.
type backupFiles struct {
	config, state, passwordFile string
}

func (f *backupFiles) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", "", "with no daemon running: the daemon's configuration file")
	cmd.Flags().StringVar(&f.state, "state", "", "with no daemon running: the daemon's state file")
	cmd.Flags().StringVar(&f.passwordFile, "password-file", "", "read the password from the first line of FILE (else $"+PasswordEnv+", else asked on the terminal)")
}

func backupCmd(env Env, dc *daemonConn) *cobra.Command {
	var (
		files backupFiles
		out   string
	)
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write an encrypted backup of the configuration, the lists and the permanent bans",
		Long: `Write an encrypted backup: the configuration file as it is (comments
kept), the allow and deny lists with their notes, and the permanent bans
with their reasons. It is encrypted with age under a password of at least
12 characters: --password-file, else $` + PasswordEnv + `, else asked twice
on the terminal. The file is written readable by its owner only (0600).

Through the running daemon; with no daemon running, from --state (and
--config, if the box has a configuration file).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{errors.New("give --out FILE, where to write the backup")}
			}
			password, err := readPassword(env, files.passwordFile, true)
			if err != nil {
				return err
			}
			data, err := dc.client().Backup(cmd.Context(), password)
			here := errors.Is(err, api.ErrNoDaemon)
			if here {
				data, err = backupHere(files, env.Version, password)
			}
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFileMode(out, data, 0o600); err != nil {
				return err
			}
			where := "through the daemon"
			if here {
				where = "no daemon running: from " + files.state
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: backup written, %d bytes (%s)\n", out, len(data), where)
			return nil
		},
	}
	files.flags(cmd)
	cmd.Flags().StringVar(&out, "out", "", "the backup file to write")
	return cmd
}

// backupHere makes a backup from the files, with no daemon running.
func backupHere(f backupFiles, version, password string) ([]byte, error) {
	if f.state == "" {
		return nil, usageError{errors.New("no daemon running: give --state FILE (and --config FILE), the daemon's files")}
	}
	var text []byte
	if f.config != "" {
		var err error
		if text, err = os.ReadFile(f.config); err != nil {
			return nil, fmt.Errorf("configuration file: %w", err)
		}
	}
	if _, err := os.Stat(f.state); err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	st, err := store.Open(f.state, store.Limits{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	a, err := backup.Collect(text, st, version, time.Now())
	if err != nil {
		return nil, err
	}
	return backup.Seal(a, password)
}

func restoreCmd(env Env, dc *daemonConn) *cobra.Command {
	var files backupFiles
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Check an encrypted backup whole, then put it back: configuration, lists, permanent bans",
		Long: `Put back a backup that sipguard backup wrote. Everything is checked before
anything changes: the password, the file's authentication (a changed or
cut file is refused), its format, the configuration by the same rules as
sipguard config set, every list entry and permanent ban. A refused backup
changes nothing. Then, as one step: the configuration file is replaced
atomically, the allow and deny lists and the permanent bans are replaced
in the state file in one transaction, and the daemon reads them again.

The password comes from --password-file, else $` + PasswordEnv + `, else the
terminal. Through the running daemon; with no daemon running, onto
--state and --config, which it reads at its next start.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			password, err := readPassword(env, files.passwordFile, false)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			r, err := dc.client().Restore(cmd.Context(), password, data)
			if errors.Is(err, api.ErrNoDaemon) {
				if r, err = restoreHere(files, data, password); err != nil {
					return err
				}
				writeRestored(w, args[0], r)
				fmt.Fprintln(w, "(no daemon running: the daemon applies them at its next start)")
				return nil
			}
			if err != nil {
				return err
			}
			writeRestored(w, args[0], r)
			return nil
		},
	}
	files.flags(cmd)
	return cmd
}

// restoreHere checks a backup, then writes it to the files, with no
// daemon running.
func restoreHere(f backupFiles, data []byte, password string) (api.Restored, error) {
	if f.state == "" {
		return api.Restored{}, usageError{errors.New("no daemon running: give --state FILE (and --config FILE), the daemon's files")}
	}
	c, err := backup.Read(data, password)
	if err != nil {
		return api.Restored{}, err
	}
	if c.Config != nil && f.config == "" {
		return api.Restored{}, usageError{errors.New("the backup holds a configuration file: give --config FILE, where it goes (nothing was changed)")}
	}
	st, err := store.Open(f.state, store.Limits{})
	if err != nil {
		return api.Restored{}, err
	}
	defer st.Close()
	out := api.Restored{Firmware: c.Firmware, Created: c.Created, Allow: len(c.Allow), Deny: len(c.Deny), Permanent: len(c.Permanent)}
	if f.config != "" {
		text := c.Config
		if text == nil {
			text = []byte{}
		}
		if err := config.WriteFile(f.config, text); err != nil {
			return api.Restored{}, err
		}
		out.Config = true
	}
	if err := st.ReplaceLists(c.Allow, c.Deny, c.Permanent); err != nil {
		return out, fmt.Errorf("the configuration file is written, the lists are not: %w", err)
	}
	return out, nil
}

// writeRestored prints what a restore put back.
func writeRestored(w io.Writer, file string, r api.Restored) {
	fmt.Fprintf(w, "%s: restored the backup made %s by firmware %s\n", file, r.Created.Local().Format(time.DateTime), orUnknown(r.Firmware))
	if r.Config {
		fmt.Fprintln(w, "configuration file: replaced")
	}
	fmt.Fprintf(w, "allow list: %d entries\ndeny list: %d entries\npermanent bans: %d\n", r.Allow, r.Deny, r.Permanent)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// readPassword reads a backup's password: from file, else the
// environment, else the terminal (twice for a new backup). It refuses one
// too short.
func readPassword(env Env, file string, confirm bool) (string, error) {
	var password string
	switch {
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		defer f.Close()
		line, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("password file: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	case os.Getenv(PasswordEnv) != "":
		password = os.Getenv(PasswordEnv)
	default:
		tty, ok := env.Stdin.(*os.File)
		if !ok || !term.IsTerminal(int(tty.Fd())) {
			return "", usageError{fmt.Errorf("no password: give --password-file FILE or set %s (no terminal to ask on)", PasswordEnv)}
		}
		var err error
		if password, err = prompt(env, tty, "Backup password: "); err != nil {
			return "", err
		}
		if confirm && backup.CheckPassword(password) == nil {
			again, err := prompt(env, tty, "The same password again: ")
			if err != nil {
				return "", err
			}
			if again != password {
				return "", usageError{errors.New("the two passwords differ")}
			}
		}
	}
	if confirm {
		if err := backup.CheckPassword(password); err != nil {
			return "", usageError{err}
		}
	}
	return password, nil
}

// prompt asks for a password on the terminal, without echo.
func prompt(env Env, tty *os.File, question string) (string, error) {
	fmt.Fprint(env.Stderr, question)
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(env.Stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	return string(b), nil
}
