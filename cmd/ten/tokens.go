package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/client"
	"github.com/tenement/ten/runtime/names"
	"github.com/tenement/ten/runtime/store"
)

func newTokenGenCmd(g *globals) *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "token-gen",
		Short: "Generate an API token",
		Long: `Generate an API token and store its hash in the state database. No
running server is needed.

Without --tenant the token is an admin token: it replaces the previous
admin token and is saved to {data_dir}/api_token (mode 0600), where the
other ten commands find it. With --tenant ID the token may only see and
manage instances with that id (e.g. notes:ID, web:ID) and their logs, and
is printed only. A tenant name follows the rule for instance ids: ` + names.Rule + `.
Any other name, the empty one included, is refused with exit status 2 and
nothing changes.`,
		Example: `  ten token-gen
  ten token-gen --tenant alice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			scoped := cmd.Flags().Changed("tenant")
			if scoped {
				// Checked before anything is opened: a refused name
				// changes nothing on disk.
				if err := names.Check(tenant); err != nil {
					return &cli.ExitError{Code: 2, Err: fmt.Errorf("--tenant: %w", err)}
				}
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			db, err := store.Open(cmd.Context(), cfg.DBPath(), store.Options{})
			if err != nil {
				return err
			}
			defer db.Close()
			tokens := api.NewTokens(db.DB, nil)
			var token string
			if scoped {
				token, err = tokens.IssueTenant(cmd.Context(), tenant)
			} else {
				token, err = tokens.IssueAdmin(cmd.Context())
			}
			if err != nil {
				return err
			}
			saved := ""
			if !scoped {
				if saved, err = client.SaveToken(cfg.Settings.DataDir, token); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if !scoped {
				fmt.Fprintln(out, "Generated new API token:")
			} else {
				fmt.Fprintf(out, "Generated new API token for tenant %s:\n", tenant)
			}
			fmt.Fprintln(out)
			fmt.Fprintf(out, "  %s\n", token)
			fmt.Fprintln(out)
			fmt.Fprintln(out, "Store this token securely - it cannot be recovered.")
			fmt.Fprintf(out, "Use it in the Authorization header: Bearer %s\n", token)
			if saved != "" {
				fmt.Fprintf(out, "Saved to %s for the ten CLI.\n", saved)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "limit the token to instances with this id")
	return cmd
}
