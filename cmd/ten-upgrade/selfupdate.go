package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/orchestrator"
	"github.com/tenement/ten/runtime/config"
)

func newSelfUpdateCmd(g *globals) *cobra.Command {
	var (
		opts   orchestrator.SelfUpdateOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "self-update",
		Short: "Replace ten-upgrade itself with a verified new version",
		Long: `Replace this ten-upgrade with a new binary, given as a file (--binary) or a
URL (--url). The binary must match --sha256 and carry a minisign signature
(--signature, a file or URL; default URL.minisig) by the pinned key
(--public-key, or public_key under [upgrade]) before it is even run; it
must then answer --version as ten-upgrade. The swap is a rename beside
the installed file; the previous binary is kept as ten-upgrade.old.`,
		Example: `  ten-upgrade self-update --url https://example.com/ten-upgrade-linux-amd64 --sha256 3f1c... --public-key RWQ...
  ten-upgrade self-update --binary ./ten-upgrade --sha256 3f1c... --signature ./ten-upgrade.minisig`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.PublicKey == "" {
				if path, err := config.Discover(g.config, nil, ""); err == nil {
					if cfg, _, err := config.Load(path); err == nil {
						opts.PublicKey = cfg.Upgrade.PublicKey
					}
				}
			}
			rep, err := orchestrator.SelfUpdate(cmd.Context(), opts)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if asJSON {
				return writeJSON(cmd, rep)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ten-upgrade %s -> %s at %s (sha256 %s, signed by key %s); previous binary kept as %s\n",
				rep.From, rep.To, rep.Target, rep.SHA256, rep.KeyID, rep.Backup)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Binary, "binary", "", "the new ten-upgrade, a local file")
	f.StringVar(&opts.URL, "url", "", "the new ten-upgrade, to download")
	f.StringVar(&opts.SHA256, "sha256", "", "expected SHA-256 of the new binary (hex)")
	f.StringVar(&opts.Signature, "signature", "", "minisign signature of the binary: file or URL (default: URL.minisig)")
	f.StringVar(&opts.PublicKey, "public-key", "", "pinned minisign public key (RW...) or key file (default: public_key under [upgrade])")
	f.StringVar(&opts.Target, "target", "", "the ten-upgrade binary to replace (default: this one)")
	f.BoolVar(&asJSON, "json", false, "print the outcome as JSON")
	cmd.MarkFlagsMutuallyExclusive("binary", "url")
	return cmd
}

func writeJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return &exitError{code: 2, err: err}
	}
	return nil
}
