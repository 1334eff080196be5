package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/orchestrator"
	"github.com/tenement/ten/orchestrator/lockfile"
	"github.com/tenement/ten/orchestrator/release"
)

func newSelfUpdateCmd(g *globals) *cobra.Command {
	var (
		opts   orchestrator.SelfUpdateOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "self-update",
		Short: "Replace ten-upgrade itself with a verified new version",
		Long: `Replace this ten-upgrade with a new version, verified before it is even run.

From a release (the default): the GitHub release --to names (latest, or
a version such as v1.2.0) of --repo (default: repo under [upgrade]) is
verified as check and run verify ten's: the minisign signature of its
checksums.txt with the pinned key (--public-key, or public_key under
[upgrade]; required), then the SHA-256 of the archive for this platform.
The ten-upgrade inside the archive must answer --version with the
release's version. The same version is "already up to date" (exit 0,
nothing changed); an older one is refused. GITHUB_TOKEN raises GitHub's
rate limit; --github-api points at GitHub Enterprise.

From a bare binary: a file (--binary) or a URL (--url) that must match
--sha256 and carry a minisign signature (--signature, a file or URL;
default URL.minisig) by the pinned key, then answer --version as
ten-upgrade. The two ways do not mix.

Either way the swap is a rename beside the installed file; the previous
binary is kept as ten-upgrade.old. One self-update of a binary runs at a
time: it holds .ten-upgrade.lock beside it (a second one exits 2 naming
the first's pid and start). When a check fails, the installed
binary stays as it was and nothing is left beside it.

Exit status: 0 updated or already up to date, 1 refused or failed
(nothing changed), 2 a bad flag or another self-update running.`,
		Example: `  # the latest release of repo under [upgrade], verified with public_key
  ten-upgrade self-update

  # a given release of a given repository
  ten-upgrade self-update --to v1.2.0 --repo tenement/ten --public-key RWQ...

  # a bare binary, checked against its SHA-256 and its minisign signature
  ten-upgrade self-update --url https://example.com/ten-upgrade-linux-amd64 --sha256 3f1c... --public-key RWQ...
  ten-upgrade self-update --binary ./ten-upgrade --sha256 3f1c... --signature ./ten-upgrade.minisig`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := release.CheckTo(opts.To); err != nil {
				return &cli.ExitError{Code: 2, Err: err}
			}
			opts.Config = g.Config
			opts.Token = os.Getenv("GITHUB_TOKEN")
			opts.Logger = g.logger()
			if !asJSON {
				opts.Progress = release.TerminalProgress(os.Stderr)
			}
			rep, err := orchestrator.SelfUpdate(cmd.Context(), opts)
			if errors.Is(err, lockfile.ErrLocked) {
				return &cli.ExitError{Code: 2, Err: err}
			}
			if err != nil {
				return &cli.ExitError{Code: 1, Err: err}
			}
			if asJSON {
				return writeJSON(cmd, rep)
			}
			out := cmd.OutOrStdout()
			switch {
			case rep.UpToDate:
				fmt.Fprintf(out, "ten-upgrade %s at %s is already up to date (release %s of %s); nothing changed\n", rep.From, rep.Target, rep.Tag, rep.Repo)
			case rep.Tag != "":
				fmt.Fprintf(out, "ten-upgrade %s -> %s at %s from release %s of %s (%s, sha256 %s; checksums.txt signed by key %s); previous binary kept as %s\n",
					rep.From, rep.To, rep.Target, rep.Tag, rep.Repo, rep.Asset, rep.AssetSHA256, rep.KeyID, rep.Backup)
			default:
				fmt.Fprintf(out, "ten-upgrade %s -> %s at %s (sha256 %s, signed by key %s); previous binary kept as %s\n",
					rep.From, rep.To, rep.Target, rep.SHA256, rep.KeyID, rep.Backup)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.To, "to", "", "release to install: latest (the default without --binary or --url) or a version (v1.2.3)")
	f.StringVar(&opts.Repo, "repo", "", "GitHub repository owner/name of the releases (default: repo under [upgrade])")
	f.BoolVar(&opts.Pre, "pre", false, "let latest pick pre-releases")
	f.StringVar(&opts.GitHubAPI, "github-api", "", "GitHub API URL, for GitHub Enterprise (e.g. https://github.example.com/api/v3)")
	f.StringVar(&opts.Binary, "binary", "", "the new ten-upgrade, a local file (with --sha256 and --signature)")
	f.StringVar(&opts.URL, "url", "", "the new ten-upgrade, to download (with --sha256)")
	f.StringVar(&opts.SHA256, "sha256", "", "expected SHA-256 of the new binary (hex)")
	f.StringVar(&opts.Signature, "signature", "", "minisign signature of the binary: file or URL (default: URL.minisig)")
	f.StringVar(&opts.PublicKey, "public-key", "", "pinned minisign public key (RW...) or key file (default: public_key under [upgrade])")
	f.StringVar(&opts.Target, "target", "", "the ten-upgrade binary to replace (default: this one)")
	f.BoolVar(&asJSON, "json", false, "print the outcome as JSON (docs/json-output.md); no progress bar")
	cmd.MarkFlagsMutuallyExclusive("binary", "url")
	return cmd
}

func writeJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return &cli.ExitError{Code: 2, Err: err}
	}
	return nil
}
