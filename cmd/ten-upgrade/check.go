package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/orchestrator"
	"github.com/tenement/ten/orchestrator/release"
)

func newCheckCmd(g *globals) *cobra.Command {
	var opts orchestrator.CheckOptions
	var asJSON bool
	var maxSize string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that a release is safe for this server's config and database (no side effects)",
		Long: `Answer one question without touching the running system: is this candidate
release safe to roll out onto this server's config and database?

The candidate is a GitHub release (--repo, or repo under [upgrade]; --to
VERSION or latest) or a local binary or archive (--binary). A release is
verified before anything of it runs: the minisign signature of
checksums.txt with the pinned key (--public-key, or public_key under
[upgrade]), then the SHA-256 of the asset. There is no way to skip this
for remote releases.

Then the candidate is asked: its version against the installed one
(downgrades are refused, a major bump needs --allow-major), its API
version, its verdict on the production config (ten config --check), and
the migration of an online copy of the production database (ten migrate),
after which the installed binary is asked whether it still runs on the
result. That decides whether the old and new servers can overlap for a
zero-downtime upgrade, and whether a rollback would need the database
restored. The release notes between the two versions are listed, with
Breaking and Removed entries flagged.

The production config, database and binary are only read.

Exit status: 0 safe, 1 not safe, 2 could not decide.`,
		Example: `  ten-upgrade check --to latest
  ten-upgrade check --repo tenement/ten --to v1.3.0 --public-key RWQ...
  ten-upgrade check --binary ./dist/ten --config tenement.toml --db snapshot.db --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := release.CheckTo(opts.To); err != nil {
				return &cli.ExitError{Code: 2, Err: err}
			}
			if maxSize != "" {
				n, err := humanize.ParseBytes(maxSize)
				if err != nil || n == 0 {
					return &cli.ExitError{Code: 2, Err: fmt.Errorf("--max-size %q: want a size such as 512MiB", maxSize)}
				}
				opts.MaxSize = int64(n)
			}
			opts.Config, opts.DataDir = g.Config, g.DataDir
			opts.Token = os.Getenv("GITHUB_TOKEN")
			opts.Logger = g.logger()
			if !asJSON {
				opts.Progress = release.TerminalProgress(os.Stderr)
			}
			rep := orchestrator.Check(cmd.Context(), opts)
			return writeReport(cmd, rep, asJSON, rep.ExitCode)
		},
	}
	candidateFlags(cmd, &opts, "check")
	f := cmd.Flags()
	// check asks no running server, and only reports.
	f.Lookup("installed").Usage = "installed ten binary (default: binary_path under [upgrade], else ten on PATH)"
	f.Lookup("strict").Usage = "fail on config warnings, such as deprecated keys"
	f.StringVar(&opts.DB, "db", "", "database file to check (default: tenement.db in the data directory)")
	f.StringVar(&maxSize, "max-size", "", "largest download and unpacked file (default 512MiB)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON (schema in docs/json-output.md); no progress bar")
	for _, name := range []string{"to", "pre", "github-api"} {
		cmd.MarkFlagsMutuallyExclusive("binary", name)
	}
	return cmd
}

// logger logs to stderr: warnings by default, everything with --verbose.
func (g *globals) logger() *slog.Logger {
	level := slog.LevelWarn
	if g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
