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
	cli.Installation
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
	root := cli.NewRoot("ten-upgrade", "Upgrade a running ten server with zero downtime", `ten-upgrade takes a running ten from one version to another without
dropping a request: it fetches and verifies the release, checks the new
binary against your config and database, backs up the binary and the
database, starts the new server beside the old one, moves traffic, and
rolls back by itself on any failure.

It finds the installation with the same flags as ten: --config /
TENEMENT_CONFIG, --data-dir / TENEMENT_DATA_DIR, --server / TENEMENT_SERVER.`, version.Version)
	g.Installation.AddFlags(root)
	pf := root.PersistentFlags()
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
