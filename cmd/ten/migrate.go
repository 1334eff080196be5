package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/runtime/admin"
	"github.com/tenement/ten/runtime/store"
)

func newMigrateCmd(g *globals) *cobra.Command {
	var dbPath string
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Migrate a state database to this binary's schema",
		Long: `Apply this binary's schema migrations to a state database. Each migration
runs in its own transaction: a failure leaves the database at the last
complete version. An unversioned tenement v0.2.x database is adopted
(stamped) with every row kept.

The database is --db FILE, else tenement.db in --data-dir, else in the
configured data_dir. With --dry-run the file is opened read-only and only
the plan is printed.`,
		Example: `  ten migrate --db /var/lib/tenement/tenement.db --dry-run
  ten migrate --data-dir /var/lib/tenement --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := dbPath
			if path == "" {
				dir := g.DataDir
				if dir == "" {
					cfg, err := g.loadConfig()
					if err != nil {
						return &cli.ExitError{Code: 2, Err: fmt.Errorf("%w (or pass --db FILE or --data-dir DIR)", err)}
					}
					dir = cfg.Settings.DataDir
				}
				path = filepath.Join(dir, store.FileName)
			}
			rep, err := admin.Migrate(cmd.Context(), path, dryRun)
			if err != nil {
				rep.Error = err.Error()
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if encErr := enc.Encode(rep); encErr != nil {
					return encErr
				}
				if err != nil {
					return &cli.ExitError{Code: 1}
				}
				return nil
			}
			if err != nil {
				return err
			}
			verb := "migrated"
			if dryRun {
				verb = "would migrate"
			}
			switch {
			case rep.Stamped:
				fmt.Fprintf(out, "%s: adopted tenement v0.2.x database as schema 1\n", path)
			}
			for _, m := range rep.Applied {
				fmt.Fprintf(out, "  %04d_%s (%s)\n", m.Version, m.Name, m.Kind)
			}
			if rep.From == rep.To && len(rep.Applied) == 0 {
				fmt.Fprintf(out, "%s: schema %d is current\n", path, rep.To)
				return nil
			}
			fmt.Fprintf(out, "%s: %s schema %d -> %d (compat floor %d)\n", path, verb, rep.From, rep.To, rep.Floor)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dbPath, "db", "", "database file to migrate")
	f.BoolVar(&dryRun, "dry-run", false, "print what would be applied, change nothing")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
