package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/orchestrator"
	"github.com/tenement/ten/orchestrator/release"
)

// candidateFlags are the flags that name the candidate, shared by run and
// check; verb says what is done with the release (--to's help).
func candidateFlags(cmd *cobra.Command, opts *orchestrator.CheckOptions, verb string) {
	f := cmd.Flags()
	f.StringVar(&opts.Binary, "binary", "", "candidate from a local file: a ten binary or a release archive (trusted, SHA-256 recorded)")
	f.StringVar(&opts.Repo, "repo", "", "GitHub repository owner/name of the releases (default: repo under [upgrade])")
	f.StringVar(&opts.To, "to", release.Latest, "release to "+verb+": a version (v1.2.3) or latest")
	f.BoolVar(&opts.Pre, "pre", false, "let latest pick pre-releases")
	f.StringVar(&opts.GitHubAPI, "github-api", "", "GitHub API URL, for GitHub Enterprise (e.g. https://github.example.com/api/v3)")
	f.StringVar(&opts.PublicKey, "public-key", "", "pinned minisign public key (RW...) or key file (default: public_key under [upgrade])")
	f.StringVar(&opts.Installed, "installed", "", "installed ten binary (default: binary_path under [upgrade], else the running server's executable, else ten on PATH)")
	f.BoolVar(&opts.AllowMajor, "allow-major", false, "allow a new major version (and API major)")
	f.BoolVar(&opts.Strict, "strict", false, "refuse on config warnings, such as deprecated keys")
	// A local binary is trusted as it is: no release to find or verify.
	for _, name := range []string{"repo", "public-key"} {
		cmd.MarkFlagsMutuallyExclusive("binary", name)
	}
}

func newRunCmd(g *globals) *cobra.Command {
	var (
		opts    orchestrator.RunOptions
		asJSON  bool
		yes     bool
		watch   string
		errRate float64
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Upgrade the running server to a new release",
		Long: `Take the running ten from its version to the candidate with no failed
request and no tenant restarted, and put everything back by itself if
anything goes wrong.

Steps, each recorded in a journal under the state directory before and
after it acts, each with an undo:

  lock           one upgrade of this installation at a time, whatever
                 the state directory ({data_dir}/upgrade/install.lock,
                 .ten.lock beside the binary, {state_dir}/lock)
  fetch          download and verify the release (as check), keep a copy
  compat         the candidate's verdict on the config and a database copy
  backup-binary  the installed binary to ten.bak beside it (ten.bak.1 kept)
  backup-db      online backup of the database, integrity-checked, 0600
  stage          the candidate next to the installed binary
  switch         handoff, proxy or restart (see --strategy)
  promote        rename over the installed path; fsync the directory
  watch          health, restarts and 5xx rate of the new server (--watch)
  commit

Strategies: handoff (the running server starts the new binary with its
listening socket), proxy (the new server starts on a spare port, passes a
health gate, Caddy or nginx switches to it, the old one drains), restart
(stop, swap, start: with downtime, which is reported). auto picks handoff
when the running server supports it, else proxy when one is configured.

On any failure before commit, the done steps are undone in reverse order.
If ten-upgrade itself is killed, ten-upgrade status explains where it
stopped; ten-upgrade rollback returns to the old version and
ten-upgrade run --resume finishes the upgrade, once it has checked the
copy of the new binary it goes on with against the SHA-256 journaled
when it was verified (a changed file is refused).

Exit status: 0 upgraded (or nothing to do, or a dry run), 1 failed and
rolled back, 2 refused (nothing changed), 3 rollback incomplete.`,
		Example: `  ten-upgrade run --to latest
  ten-upgrade run --binary ./dist/ten --yes
  ten-upgrade run --strategy proxy --proxy caddy --proxy-admin http://127.0.0.1:2019 --proxy-url http://127.0.0.1:80
  ten-upgrade run --dry-run
  ten-upgrade run --resume`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := release.CheckTo(opts.Check.To); err != nil {
				return &cli.ExitError{Code: 2, Err: err}
			}
			if watch != "" {
				d, err := time.ParseDuration(watch)
				if err != nil {
					return &cli.ExitError{Code: 2, Err: fmt.Errorf("--watch %q: %v", watch, err)}
				}
				opts.Watch = d
				if d == 0 {
					opts.Watch = -1
				}
			}
			opts.MaxErrorRate = errRate / 100
			opts.Check.Config, opts.Check.DataDir = g.Config, g.DataDir
			opts.Check.Token = os.Getenv("GITHUB_TOKEN")
			opts.Logger = g.logger()
			errOut := cmd.ErrOrStderr()
			if !asJSON {
				opts.Out = errOut
				opts.Check.Progress = release.TerminalProgress(os.Stderr)
			}
			if !opts.DryRun && !yes {
				confirm, err := confirmer(cmd.InOrStdin(), errOut)
				if err != nil {
					return &cli.ExitError{Code: 2, Err: err}
				}
				opts.Confirm = confirm
			}
			rep := orchestrator.Run(cmd.Context(), opts)
			return report(cmd, rep, asJSON)
		},
	}
	candidateFlags(cmd, &opts.Check, "install")
	f := cmd.Flags()
	f.StringVar(&opts.Strategy, "strategy", "", "auto, handoff, proxy or restart (default: strategy under [upgrade], else auto)")
	f.StringVar(&opts.Proxy.Driver, "proxy", "", "front proxy for the proxy strategy: caddy, nginx or none (default: proxy under [upgrade])")
	f.StringVar(&opts.Proxy.AdminURL, "proxy-admin", "", "Caddy admin API URL (default http://localhost:2019)")
	f.StringVar(&opts.Proxy.Caddyfile, "caddyfile", "", "manage this Caddyfile (caddy validate + caddy reload) instead of the admin API")
	f.StringVar(&opts.Proxy.Include, "nginx-include", "", "nginx include file holding `upstream ten { ... }` (default /etc/nginx/ten-upstream.conf)")
	f.StringVar(&opts.Proxy.NginxConfig, "nginx-config", "", "main nginx config for nginx -t (nginx -c)")
	f.StringVar(&opts.Proxy.NginxPrefix, "nginx-prefix", "", "nginx prefix path (nginx -p)")
	f.StringVar(&opts.Proxy.NginxPID, "nginx-pid", "", "pid file of the nginx master (default: from its config)")
	f.StringArrayVar(&opts.Proxy.NginxArgs, "nginx-arg", nil, "extra argument for nginx -t, repeatable (e.g. --nginx-arg=-e --nginx-arg=/var/log/nginx/error.log)")
	f.StringVar(&opts.Proxy.URL, "proxy-url", "", "URL clients reach the proxy at; the switch is probed through it")
	f.StringVar(&opts.Proxy.Host, "proxy-host", "", "Host header for probes through the proxy")
	f.StringVar(&opts.StateDir, "state-dir", "", "journal, backups and logs (default: state_dir under [upgrade], else {data_dir}/upgrade)")
	f.DurationVar(&opts.HealthTimeout, "health-timeout", 0, "how long the new server may take to pass the health gate (default: health_timeout under [upgrade], 30s)")
	f.IntVar(&opts.HealthChecks, "health-checks", 3, "consecutive healthy answers the gate needs")
	f.StringVar(&watch, "watch", "30s", "how long to watch the new server before committing (0 to skip)")
	f.Float64Var(&errRate, "max-error-rate", 1, "percentage of 5xx answers during the watch that triggers a rollback")
	f.DurationVar(&opts.DrainTimeout, "drain-timeout", 30*time.Second, "how long an old server may take to drain")
	f.IntVar(&opts.KeepBackups, "keep-backups", 0, "database backups to keep (default: keep_backups under [upgrade], 3)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the plan (every step and command) and change nothing")
	f.BoolVar(&opts.Resume, "resume", false, "finish the unfinished upgrade recorded in the journal")
	f.BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	f.BoolVar(&asJSON, "json", false, "print the outcome as JSON (schema in docs/json-output.md)")
	return cmd
}

// confirmer asks on the terminal. Without a terminal there is nobody to
// ask: refuse, and say how to go on.
func confirmer(in io.Reader, out io.Writer) (func(string) bool, error) {
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("no terminal to confirm on: pass --yes to proceed without confirmation, or --dry-run to see the plan")
	}
	r := bufio.NewReader(in)
	return func(plan string) bool {
		fmt.Fprint(out, plan)
		fmt.Fprint(out, "Proceed? [y/N] ")
		line, _ := r.ReadString('\n')
		ans := strings.ToLower(strings.TrimSpace(line))
		return ans == "y" || ans == "yes"
	}, nil
}

// report prints a run or rollback report and turns its result into the
// exit status.
func report(cmd *cobra.Command, rep *orchestrator.RunReport, asJSON bool) error {
	return writeReport(cmd, rep, asJSON, rep.ExitCode)
}

// writer is a report that prints itself as text or JSON.
type writer interface {
	WriteJSON(io.Writer) error
	WriteText(io.Writer) error
}

// writeReport prints rep to stdout, as JSON or text, and turns code (the
// report's exit status, 0 for success) into the command's error. Failing
// to print exits 2.
func writeReport(cmd *cobra.Command, rep writer, asJSON bool, code int) error {
	var err error
	if asJSON {
		err = rep.WriteJSON(cmd.OutOrStdout())
	} else {
		err = rep.WriteText(cmd.OutOrStdout())
	}
	if err != nil {
		return &cli.ExitError{Code: 2, Err: err}
	}
	if code != 0 {
		return &cli.ExitError{Code: code}
	}
	return nil
}

func newRollbackCmd(g *globals) *cobra.Command {
	var (
		opts   orchestrator.RollbackOptions
		asJSON bool
		yes    bool
	)
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Return to the version before the last upgrade",
		Long: `Undo the unfinished upgrade (after ten-upgrade was killed, or a rollback
that stopped), or else the last committed one, step by step in reverse
order: the proxy back, the old server back (handoff to the previous
binary), the binary restored from ten.bak, and the database restored from
its backup only when the new version moved its schema past what the old
one can use (otherwise the newer data is kept).

Refuses, with the reason, when there is nothing to roll back to.

Exit status: 0 rolled back, 2 refused, 3 the rollback stopped (see status).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Check.Config, opts.Check.DataDir = g.Config, g.DataDir
			opts.Logger = g.logger()
			if !asJSON {
				opts.Out = cmd.ErrOrStderr()
			}
			if !yes {
				confirm, err := confirmer(cmd.InOrStdin(), cmd.ErrOrStderr())
				if err != nil {
					return &cli.ExitError{Code: 2, Err: err}
				}
				opts.Confirm = func(what string) bool { return confirm(what + "\n") }
			}
			return report(cmd, orchestrator.Rollback(cmd.Context(), opts), asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.StateDir, "state-dir", "", "journal, backups and logs (default: state_dir under [upgrade], else {data_dir}/upgrade)")
	f.BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	f.BoolVar(&asJSON, "json", false, "print the outcome as JSON")
	return cmd
}

func newStatusCmd(g *globals) *cobra.Command {
	var opts orchestrator.StatusOptions
	cmd := readCmd(g, &cobra.Command{
		Use:   "status",
		Short: "Show the running server and any unfinished upgrade",
		Long: `Show the running server (version, pid, address, capabilities), the
strategy run would use, whether a ten-upgrade is working now, and any
unfinished upgrade: where it stopped, each step's state, and the commands
that finish it.`,
	}, &opts, orchestrator.Status, "journal, backups and logs (default: state_dir under [upgrade], else {data_dir}/upgrade)", "status")
	cmd.Flags().StringVar(&opts.Proxy, "proxy", "", "front proxy (default: proxy under [upgrade])")
	return cmd
}

func newHistoryCmd(g *globals) *cobra.Command {
	var opts orchestrator.StatusOptions
	cmd := readCmd(g, &cobra.Command{
		Use:   "history",
		Short: "List past upgrades",
		Long:  `List the recorded upgrades, newest first: from, to, strategy, duration, result and failed requests when known.`,
	}, &opts, orchestrator.History, "journal location (default: state_dir under [upgrade], else {data_dir}/upgrade)", "history")
	cmd.Flags().IntVar(&opts.Limit, "limit", 0, "show only the most recent N upgrades")
	return cmd
}

// readCmd completes cmd as a command that only reads the state directory
// (status, history) and prints the report read returns, described as what
// in --json's help. The caller adds its own flags to opts.
func readCmd[R writer](g *globals, cmd *cobra.Command, opts *orchestrator.StatusOptions,
	read func(context.Context, orchestrator.StatusOptions) (R, error), stateDirHelp, what string) *cobra.Command {
	var asJSON bool
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		opts.Check.Config, opts.Check.DataDir = g.Config, g.DataDir
		rep, err := read(cmd.Context(), *opts)
		if err != nil {
			return &cli.ExitError{Code: 2, Err: err}
		}
		return writeReport(cmd, rep, asJSON, 0)
	}
	f := cmd.Flags()
	f.StringVar(&opts.StateDir, "state-dir", "", stateDirHelp)
	f.BoolVar(&asJSON, "json", false, "print the "+what+" as JSON")
	return cmd
}
