package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func tokenCmd(_ Env, dc *daemonConn) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "API tokens: what a laptop's sipguard --box or a script authorizes with over HTTPS",
	}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Make an API token and print its secret, shown this once",
		Args:  cobra.ExactArgs(1),
	}
	asJSON := jsonFlag(create)
	create.RunE = func(cmd *cobra.Command, args []string) error {
		tok, err := dc.client().CreateToken(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(cmd.OutOrStdout(), tok)
		}
		w := cmd.OutOrStdout()
		fmt.Fprintln(w, tok.Secret)
		fmt.Fprintf(cmd.ErrOrStderr(), "token %s (%s) made; its secret above is shown this once: keep it (Authorization: Bearer <secret>)\n", tok.Name, tok.ID)
		return nil
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the API tokens: ID, name, made, last used",
		Args:  cobra.NoArgs,
	}
	listJSON := jsonFlag(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		toks, err := dc.client().Tokens(cmd.Context())
		if err != nil {
			return err
		}
		if *listJSON {
			return writeJSON(cmd.OutOrStdout(), toks)
		}
		if len(toks) == 0 {
			fmt.Fprintln(cmd.OutOrStdout(), "no API tokens")
			return nil
		}
		w := columns(cmd.OutOrStdout())
		fmt.Fprintln(w, "ID\tNAME\tCREATED\tLAST USED")
		for _, t := range toks {
			used := "never"
			if !t.LastUsed.IsZero() {
				used = t.LastUsed.Local().Format(time.DateTime)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Created.Local().Format(time.DateTime), used)
		}
		return w.Flush()
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token: it authorizes nothing from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := dc.client().RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
