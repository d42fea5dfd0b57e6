package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/knownboxes"
)

// The environment variables that name a box and its token, for the
// flags --box and --token.
const (
	BoxEnv   = "SIPGUARD_BOX"
	TokenEnv = "SIPGUARD_TOKEN"
)

// daemonConn is how the commands reach the daemon, from the root's flags:
// its unix socket on the box (--api), or a box over HTTPS from another
// machine (--box). It is resolved once, before the command runs.
type daemonConn struct {
	socket                             string
	box, token, tokenFile, fingerprint string
	c                                  api.Client
}

// newDaemonConn declares the root's flags that say where the daemon is,
// and resolves them before each command.
func newDaemonConn(root *cobra.Command, env Env) *daemonConn {
	dc := &daemonConn{}
	f := root.PersistentFlags()
	f.StringVar(&dc.socket, "api", api.DefaultSocket, "the daemon's local API socket")
	f.StringVar(&dc.box, "box", "", "a box to operate over HTTPS, HOST[:PORT] (default port 443; $"+BoxEnv+")")
	f.StringVar(&dc.token, "token", "", "with --box: an API token made in the dashboard ($"+TokenEnv+")")
	f.StringVar(&dc.tokenFile, "token-file", "", "with --box: read the API token from the first line of FILE")
	f.StringVar(&dc.fingerprint, "fingerprint", "", "with --box: the SHA-256 fingerprint the box's certificate must have (pinned once it works)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := dc.resolve(cmd, env); err != nil {
			return usageError{err}
		}
		return nil
	}
	return dc
}

// client is the daemon's API as the root's flags name it.
func (dc *daemonConn) client() api.Client { return dc.c }

// boxOnly names the commands that work on the box itself, and why they do
// not work with --box.
var boxOnly = map[string]string{
	"daemon": "daemon runs the box's service: it runs on the box",
	"ban":    "ban writes the kernel of the machine it runs on, and the API has no ban: run it on the box",
	"leds":   "leds watches the LEDs of the board it runs on: run it on the box (sipguard status shows the box's state from afar)",
	"button": "button presses the simulated board's button: run it on the box",
}

// resolve builds the client for cmd: the local socket, or with --box (or
// $SIPGUARD_BOX) the box over HTTPS, with its token and its pin.
func (dc *daemonConn) resolve(cmd *cobra.Command, env Env) error {
	flags := cmd.Flags()
	box := dc.box
	if box == "" {
		box = strings.TrimSpace(os.Getenv(BoxEnv))
	}
	if box == "" {
		for _, name := range []string{"token", "token-file", "fingerprint"} {
			if flags.Changed(name) {
				return fmt.Errorf("--%s goes with --box HOST (or $%s)", name, BoxEnv)
			}
		}
		dc.c = api.Client{Socket: dc.socket}
		return nil
	}
	if flags.Changed("api") {
		return errors.New("give --api (this box's socket) or --box (a box over HTTPS), not both")
	}
	if why := refusedWithBox(cmd); why != "" {
		return errors.New(why)
	}
	token, err := dc.readToken()
	if err != nil {
		return err
	}
	path, err := knownboxes.DefaultPath()
	if err != nil {
		return err
	}
	r, err := api.NewRemote(box, api.RemoteOptions{
		Token:       token,
		Fingerprint: dc.fingerprint,
		Pins:        &knownboxes.File{Path: path, Warn: env.Stderr},
		Notice:      env.Stderr,
	})
	if err != nil {
		return err
	}
	dc.c = api.Client{Remote: r}
	return nil
}

// refusedWithBox says why cmd, or the command it belongs to, does not
// work with --box; "" if it does.
func refusedWithBox(cmd *cobra.Command) string {
	for c := cmd; c.HasParent(); c = c.Parent() {
		path := strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
		if why, ok := boxOnly[path]; ok {
			return why
		}
	}
	return ""
}

// readToken reads the token: --token, else --token-file, else
// $SIPGUARD_TOKEN. None is not an error until a request is made (which
// fails with api.ErrNoToken): commands that need no daemon run without.
func (dc *daemonConn) readToken() (string, error) {
	switch {
	case dc.token != "" && dc.tokenFile != "":
		return "", errors.New("give --token or --token-file, not both")
	case dc.token != "":
		return strings.TrimSpace(dc.token), nil
	case dc.tokenFile != "":
		f, err := os.Open(dc.tokenFile)
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		defer f.Close()
		line, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("token file: %w", err)
		}
		if line = strings.TrimSpace(line); line == "" {
			return "", fmt.Errorf("token file %s: empty first line", dc.tokenFile)
		}
		return line, nil
	}
	return strings.TrimSpace(os.Getenv(TokenEnv)), nil
}

// boxCmd manages the known boxes: the fingerprints pinned of the boxes
// this machine has talked to.
func boxCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "box",
		Short: "The boxes this machine knows over HTTPS: their pinned certificate fingerprints",
		Long: `sipguard --box HOST pins the box's certificate the first time a request to
it succeeds (its SHA-256 fingerprint, which the dashboard and the box's
console show), in known_boxes in this user's configuration folder, and
refuses a box that later shows another certificate. box list shows the
pins; box forget removes one, so that the next use pins the box again
(after a factory reset made it a new certificate).`,
	}
	file := func() (*knownboxes.File, error) {
		path, err := knownboxes.DefaultPath()
		if err != nil {
			return nil, err
		}
		return &knownboxes.File{Path: path, Warn: env.Stderr}, nil
	}
	var asJSON *bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the known boxes and their pinned fingerprints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := file()
			if err != nil {
				return err
			}
			boxes, _, err := f.List()
			if err != nil {
				return err
			}
			if *asJSON {
				type box struct {
					Box         string `json:"box"`
					Fingerprint string `json:"fingerprint"`
				}
				out := make([]box, 0, len(boxes))
				for _, b := range boxes {
					out = append(out, box{b.Addr, b.Fingerprint})
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			if len(boxes) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no known boxes (%s)\n", f.Path)
				return nil
			}
			tw := columns(cmd.OutOrStdout())
			fmt.Fprintln(tw, "BOX\tCERTIFICATE SHA-256")
			for _, b := range boxes {
				fmt.Fprintf(tw, "%s\t%s\n", b.Addr, b.Fingerprint)
			}
			return tw.Flush()
		},
	}
	asJSON = jsonFlag(list)
	forget := &cobra.Command{
		Use:   "forget HOST[:PORT]",
		Short: "Forget a box's pinned fingerprint: the next use pins it again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := api.ParseBox(args[0])
			if err != nil {
				return usageError{err}
			}
			f, err := file()
			if err != nil {
				return err
			}
			found, err := f.Forget(addr)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("box %s: not known (%s)", addr, f.Path)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "box %s: forgotten; the next use pins its certificate again\n", addr)
			return nil
		},
	}
	cmd.AddCommand(list, forget)
	return cmd
}
