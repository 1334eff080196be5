// Command ten-upgrade upgrades a running ten server with zero downtime and
// rolls it back automatically when anything goes wrong.
package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/version"
)

// globals are the flags every subcommand shares, named as in ten.
type globals struct {
	config  string
	dataDir string
	server  string
	verbose bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status. Errors that
// are not part of a command's contract exit 2, "could not decide".
func run(args []string, stdout, stderr io.Writer) int {
	return cli.Run(newRootCmd(), args, stdout, stderr, 2)
}

func newRootCmd() *cobra.Command {
	g := &globals{}
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
	pf := root.PersistentFlags()
	pf.StringVar(&g.config, "config", "", "path to tenement.toml (env TENEMENT_CONFIG)")
	pf.StringVar(&g.dataDir, "data-dir", "", "data directory, overrides [settings] data_dir (env TENEMENT_DATA_DIR)")
	pf.StringVar(&g.server, "server", envOr("TENEMENT_SERVER", "http://127.0.0.1:8080"), "URL of the running ten server (env TENEMENT_SERVER)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log every step to stderr")
	root.AddCommand(
		newCheckCmd(g),
		newRunCmd(g),
		newRollbackCmd(g),
		newStatusCmd(g),
		newHistoryCmd(g),
		newSelfUpdateCmd(g),
	)
	return root
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
