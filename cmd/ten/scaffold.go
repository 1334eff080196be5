package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/internal/fsutil"
	"github.com/tenement/ten/runtime/scaffold"
)

func newInitCmd() *cobra.Command {
	var name, command string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a tenement.toml for the project in this directory",
		Long: `Create tenement.toml in the working directory. The project's manifest
(package.json, pyproject.toml or requirements.txt, go.mod, Cargo.toml,
Gemfile) decides the service name and start command unless --name and
--command are given. An existing tenement.toml is never overwritten.`,
		Example: `  ten init
  ten init --name api --command "./api-server"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cwd, err := os.Getwd()
			if err != nil {
				return err
			}
			path, p, err := scaffold.Init(cwd, name, command)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			detected := ""
			if p.Framework != "" {
				detected = fmt.Sprintf(" (detected: %s)", p.Framework)
			}
			fmt.Fprintf(out, "Created %s%s\n", filepath.Base(path), detected)
			fmt.Fprintf(out, "  service: %s\n  command: %s\n", p.Name, p.Command)
			if p.Note != "" {
				fmt.Fprintf(out, "  note:    %s\n", p.Note)
			}
			fmt.Fprintf(out, "\nNext steps:\n  ten serve --port 8080 --domain localhost\n  ten token-gen\n  ten spawn %[1]s --id prod\n  curl http://prod.%[1]s.localhost:8080/\n", p.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "service name (default: detected from the project)")
	cmd.Flags().StringVar(&command, "command", "", "command that starts one instance (default: detected)")
	return cmd
}

func newCaddyCmd(g *globals) *cobra.Command {
	o := scaffold.CaddyOptions{}
	var output string
	cmd := &cobra.Command{
		Use:   "caddy",
		Short: "Generate a Caddyfile that puts HTTPS in front of ten",
		Long: `Print a Caddyfile that serves {domain} and every tenant name under it
({service}.{domain} and {id}.{service}.{domain}, one site address per
service of tenement.toml) over HTTPS and proxies to ten on localhost:PORT,
or write it to --output.

Tenant certificates are obtained on demand, at the first TLS handshake for
each name, and only for names ten says route somewhere: Caddy asks ten
through a local-only site on 127.0.0.1:ASK-PORT. Run it again after adding
a service.`,
		Example: `  ten caddy --domain example.com --port 8080
  sudo ten caddy --domain example.com --output /etc/caddy/Caddyfile`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Domain == "" {
				return &cli.ExitError{Code: 2, Err: errors.New("--domain is required, e.g. ten caddy --domain example.com")}
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return fmt.Errorf("ten caddy writes one site address per service: %w", err)
			}
			o.Services = slices.Collect(maps.Keys(cfg.Services))
			text, err := scaffold.Caddyfile(o)
			if err != nil {
				return &cli.ExitError{Code: 2, Err: err}
			}
			out := cmd.OutOrStdout()
			if output == "" {
				fmt.Fprint(out, text)
				fmt.Fprint(out, scaffold.CaddyUsage(o.Domain))
				return nil
			}
			if err := fsutil.WriteFile(output, []byte(text), 0o644); err != nil {
				return fmt.Errorf("write Caddyfile: %w", err)
			}
			fmt.Fprintf(out, "Caddyfile written to: %s\n", output)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Domain, "domain", "d", "", "domain ten serves (tenants are {id}.{service}.{domain})")
	f.IntVarP(&o.Port, "port", "p", 8080, "port ten serve listens on")
	f.IntVar(&o.AskPort, "ask-port", scaffold.DefaultAskPort, "local port on which Caddy forwards its on-demand TLS question to ten")
	f.StringVarP(&output, "output", "o", "", "write the Caddyfile here instead of printing it")
	f.BoolVar(&o.Minimal, "minimal", false, "leave out compression and logging")
	return cmd
}

func newInstallCmd(g *globals) *cobra.Command {
	var (
		domain      string
		port        int
		dryRun      bool
		withCaddy   bool
		dnsProvider string
		user        string
	)
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Show how ten would be installed as a systemd service",
		Long: `Show the steps of a systemd installation and the unit file it writes:
the binary in /usr/local/bin/ten, the configuration in /etc/tenement, the
data in /var/lib/tenement and the unit tenement.service. Only --dry-run is
supported; apply the steps by hand or with your configuration management.

The unit runs ten as the system user --user (default tenement, created by
the steps) under systemd's sandboxing: the file system is read-only except
the data directory, no privilege gain, private /tmp, no /home. Tenants run
as the same user then; to keep tenants from ten's own files (api_token,
tenement.db, ten.sock), run ten as root (--user root) and the tenants as
an unprivileged user (see user in docs/configuration.md).`,
		Example: "  ten install --domain example.com --port 8080 --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if domain == "" {
				return &cli.ExitError{Code: 2, Err: errors.New("--domain is required, e.g. ten install --domain example.com --dry-run")}
			}
			if !dryRun {
				return &cli.ExitError{Code: 2, Err: errors.New("only `ten install --dry-run` is supported: it prints the steps and the systemd unit to apply")}
			}
			// The configuration must exist, as the real installation copies it.
			if _, err := g.configPath(); err != nil {
				return err
			}
			unit := scaffold.Unit{Domain: domain, Port: port, User: user}
			if err := unit.Validate(); err != nil {
				return &cli.ExitError{Code: 2, Err: err}
			}
			fmt.Fprint(cmd.OutOrStdout(), scaffold.InstallPlan(unit, withCaddy, dnsProvider))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&domain, "domain", "d", "", "domain ten serves")
	f.IntVarP(&port, "port", "p", 8080, "port ten serve listens on")
	f.BoolVar(&dryRun, "dry-run", false, "print what would be done, change nothing")
	f.BoolVar(&withCaddy, "caddy", false, "also set up Caddy as the HTTPS reverse proxy")
	f.StringVar(&dnsProvider, "dns-provider", "", "DNS provider for wildcard certificates (with --caddy)")
	f.StringVar(&user, "user", scaffold.DefaultServiceUser, "system user (and group) the unit runs ten as")
	return cmd
}
