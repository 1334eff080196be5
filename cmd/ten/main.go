// Command ten is the tenement process hypervisor: one process per tenant,
// routed by subdomain, supervised, scaled to zero, managed over a REST API.
package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/version"
)

// globals are the flags every subcommand shares, named as in tenement.
type globals struct {
	cli.Installation
	token string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the CLI and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return cli.Run(newRootCmd(), args, stdout, stderr, 1)
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := cli.NewRoot("ten", "Process hypervisor: one process per tenant, routed by subdomain", `ten runs one process per tenant and routes {id}.{service}.{domain} to it.
It restarts crashed tenants, stops idle ones and wakes them on the next
request, keeps its state in SQLite and is managed over a REST API.

Configuration is read from --config, else $TENEMENT_CONFIG, else the first
tenement.toml found in the working directory or its parents.`, version.Version)

	g.Installation.AddFlags(root)
	pf := root.PersistentFlags()
	pf.StringVar(&g.token, "token", os.Getenv("TENEMENT_TOKEN"), "API token (env TENEMENT_TOKEN; default: {data_dir}/api_token)")

	root.AddCommand(
		newVersionCmd(),
		newConfigCmd(g),
		newMigrateCmd(g),
		newServeCmd(g),
		newSpawnCmd(g),
		newStopCmd(g),
		newRestartCmd(g),
		newPsCmd(g),
		newHealthCmd(g),
		newWeightCmd(g),
		newDeployCmd(g),
		newRouteCmd(g),
		newLogsCmd(g),
		newTokenGenCmd(g),
		newInitCmd(),
		newCaddyCmd(g),
		newInstallCmd(g),
	)
	return root
}
