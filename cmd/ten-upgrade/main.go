// Command ten-upgrade upgrades a running ten server with zero downtime and
// rolls it back automatically when anything goes wrong.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/version"
)

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ten-upgrade:", err)
		os.Exit(2)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ten-upgrade",
		Short: "Upgrade a running ten server with zero downtime",
		Long: `ten-upgrade takes a running ten from one version to another without
dropping a request: it fetches and verifies the release, checks the new
binary against your config and database, backs up the binary and the
database, starts the new server beside the old one, moves traffic, and
rolls back by itself on any failure.

It finds the installation with the same flags as ten: --config /
TENEMENT_CONFIG, --data-dir / TENEMENT_DATA_DIR, --server / TENEMENT_SERVER.`,
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("ten-upgrade {{.Version}}\n")
	root.AddCommand(
		planned("check", "Check that a release is safe for this server's config and database (no side effects)"),
		planned("run", "Upgrade the running server to a new release"),
		planned("rollback", "Return to the version before the last upgrade"),
		planned("status", "Show the running server and any unfinished upgrade"),
		planned("history", "List past upgrades"),
	)
	return root
}

// planned is a subcommand whose implementation has not landed yet. It exits
// with status 2 ("could not decide") so that CI scripts never mistake it for
// a successful check.
func planned(name, short string) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("%s is not available in ten-upgrade %s yet; see CHANGELOG.md", name, version.Version)
		},
	}
}
