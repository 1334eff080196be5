package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/runtime/admin"
	"github.com/tenement/ten/runtime/config"
)

// configPath finds the config file named by the global flags.
func (g *globals) configPath() (string, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	path, err := config.Discover(g.Config, os.Getenv, cwd)
	if errors.Is(err, config.ErrNotFound) {
		return "", fmt.Errorf("no tenement.toml found in %s or its parents: pass --config FILE, set TENEMENT_CONFIG, or create one with `ten init`", cwd)
	}
	return path, err
}

// loadConfig loads the config with --data-dir / TENEMENT_DATA_DIR applied and
// prints its warnings to stderr. Errors in the file stop the command.
func (g *globals) loadConfig() (*config.Config, error) {
	path, err := g.configPath()
	if err != nil {
		return nil, err
	}
	cfg, diags, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	for _, d := range diags {
		fmt.Fprintln(os.Stderr, d.String())
	}
	if config.HasErrors(diags) {
		return nil, fmt.Errorf("%s has errors; run `ten config --check` for details", path)
	}
	cfg.OverrideDataDir(g.DataDir, os.Getenv)
	return cfg, nil
}

func newConfigCmd(g *globals) *cobra.Command {
	var check, asJSON, strict bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration, or check it with --check",
		Long: `Without flags, print the effective configuration: the file with aliases
resolved and defaults filled in, services in sorted order.

With --check, validate the file and report errors and warnings (deprecated
aliases such as runtime -> isolation, unknown keys with their line). Exit
status: 0 valid, 1 errors, 3 warnings only and --strict given.`,
		Example: `  ten config
  ten config --check
  ten config --check --json --config /etc/tenement/tenement.toml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if !check {
				if asJSON || strict {
					return &cli.ExitError{Code: 2, Err: errors.New("--json and --strict go with --check")}
				}
				cfg, err := g.loadConfig()
				if err != nil {
					return err
				}
				text, err := admin.EffectiveTOML(cfg)
				if err != nil {
					return err
				}
				_, err = out.Write(text)
				return err
			}

			path, err := g.configPath()
			if err != nil {
				return &cli.ExitError{Code: 2, Err: err}
			}
			rep := admin.CheckConfig(path, g.DataDir, os.Getenv)
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				for _, d := range rep.Errors {
					fmt.Fprintln(out, formatDiag(d.Severity, d.File, d.Line, d.Message, d.Hint))
				}
				for _, d := range rep.Warnings {
					fmt.Fprintln(out, formatDiag(d.Severity, d.File, d.Line, d.Message, d.Hint))
				}
				switch {
				case !rep.OK:
					fmt.Fprintf(out, "%s: %d error(s), %d warning(s)\n", path, len(rep.Errors), len(rep.Warnings))
				case len(rep.Warnings) > 0:
					fmt.Fprintf(out, "%s: ok with %d warning(s)\n", path, len(rep.Warnings))
				default:
					fmt.Fprintf(out, "%s: ok\n", path)
				}
			}
			switch {
			case !rep.OK:
				return &cli.ExitError{Code: 1}
			case strict && len(rep.Warnings) > 0:
				return &cli.ExitError{Code: 3}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&check, "check", false, "validate the configuration and report problems")
	f.BoolVar(&asJSON, "json", false, "with --check: print the report as JSON")
	f.BoolVar(&strict, "strict", false, "with --check: exit 3 when there are warnings")
	return cmd
}

func formatDiag(sev, file string, line int, msg, hint string) string {
	loc := file
	if line > 0 {
		loc = fmt.Sprintf("%s:%d", file, line)
	}
	s := fmt.Sprintf("%s: %s: %s", loc, sev, msg)
	if hint != "" {
		s += " (" + hint + ")"
	}
	return s
}
