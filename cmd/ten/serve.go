package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/runtime/handoff"
	"github.com/tenement/ten/runtime/server"
	"github.com/tenement/ten/runtime/tlsserve"
)

func newServeCmd(g *globals) *cobra.Command {
	var (
		port           int
		domain         string
		host           string
		logLevel       string
		handoffTimeout time.Duration
		tlsFlags       tlsserve.Flags
		httpsPort      int
		httpPort       int
		allowUnlimited bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Start the HTTP server: reverse proxy, supervisor and API",
		Long: `Start the server. Requests for {id}.{service}.{domain} go to that instance,
waking it if it is idle; requests for {service}.{domain} go to the
service's instances by weight. Host names are compared in lower case. The
[routing] table of tenement.toml adds host, wildcard, path-prefix and
default routes. /health, /metrics and the REST API under /api are served
on every other request, and always on the bare domain.

The server listens on 127.0.0.1 unless --host says otherwise: put Caddy or
nginx in front of it for HTTPS (ten caddy writes a Caddyfile), or use
--tls. Binding any other address without TLS is logged as a warning.

On SIGTERM or SIGINT the server stops accepting connections, lets in-flight
requests finish, then stops the tenants it started. If another ten serve
runs on the same data directory (a successor, e.g. during an upgrade), it
hands supervision to it instead and leaves the tenants running.

Zero-downtime upgrade in place: SIGUSR2 (systemd's ExecReload), or an
"upgrade" request on the control socket {data_dir}/ten.sock, starts the
binary installed at this server's path with the same arguments and the
listening socket inherited; once the new process is ready this one drains
and exits. If the new binary fails to start, this server keeps serving.
Under systemd (Type=notify) the server reports READY=1, MAINPID after a
handoff, and STOPPING=1; it also accepts a socket from socket activation.

HTTPS: --tls (or enabled = true under [settings.tls]) also serves HTTPS on
https_port (default 443) and plain HTTP on http_port (default 80), which
answers ACME HTTP-01 challenges and redirects to HTTPS. Certificates come
from Let's Encrypt (--staging for its staging CA, --acme-directory for any
other ACME CA) for the domain at start, and on demand (TLS-ALPN-01) for
each {id}.{service}.{domain} and {service}.{domain} whose service is
configured; names that route nowhere get no certificate. They are kept in
{data_dir}/acme (cache_dir) and reused after a restart or an upgrade.
--tls-cert/--tls-key serve your own certificate instead. The --port
listener stays plain HTTP for the CLI and local clients; the TLS
listeners bind --tls-host (all addresses by default) and are handed to
the new binary in an upgrade like the main one.

Each instance of a service with memory_limit_mb or cpu_shares runs in a
cgroup of its own (cgroup v2, or the v1 memory and cpu controllers where
v2 has none). Where no cgroup can be made (ten not root, no controller)
the server refuses to start, naming the services; --allow-unlimited runs
them without limits instead, with a warning.`,
		Example: `  ten serve --port 8080 --domain example.com
  ten serve --port 0                      # any free port, logged at start
  ten serve --host 0.0.0.0 --port 8080    # reachable from other machines
  ten serve --domain example.com --tls --email ops@example.com
  ten serve --domain example.com --tls-cert fullchain.pem --tls-key privkey.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return &cli.ExitError{Code: 2, Err: fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", logLevel)}
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("https-port") {
				tlsFlags.HTTPSPort = &httpsPort
			}
			if cmd.Flags().Changed("http-port") {
				tlsFlags.HTTPPort = &httpPort
			}
			tlsSettings, err := tlsserve.Resolve(cfg.Settings.TLS, cfg.Settings.DataDir, domain, cmd.Flags().Changed("domain"), tlsFlags)
			if err != nil {
				return &cli.ExitError{Code: 2, Err: err}
			}
			if tlsSettings != nil {
				domain = tlsSettings.Domain
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))

			// Sockets handed over by a previous server or by systemd must be
			// taken before anything else reads the environment.
			inherited, err := handoff.Receive()
			if err != nil {
				return err
			}
			reload := make(chan os.Signal, 1)
			signal.Notify(reload, syscall.SIGUSR2)
			defer signal.Stop(reload)

			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				// After the first signal a second one kills at once.
				<-ctx.Done()
				stop()
			}()
			return server.Run(ctx, server.Options{
				Config: cfg,
				Port:   port,
				Bind:   host,
				Domain: domain,
				Logger: log,

				Inherited: inherited,
				Args:      os.Args[1:],
				Reload:    reload,

				HandoffTimeout: handoffTimeout,
				TLS:            tlsSettings,
				AllowUnlimited: allowUnlimited,
			})
		},
	}
	f := cmd.Flags()
	f.IntVarP(&port, "port", "p", 8080, "port to listen on (0 picks a free one)")
	f.StringVarP(&domain, "domain", "d", server.DefaultDomain, "domain for subdomain routing, e.g. example.com")
	f.StringVar(&host, "host", server.DefaultBind, "address to bind; 0.0.0.0 exposes ten to other machines (logged as a warning without TLS)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.BoolVar(&tlsFlags.TLS, "tls", false, "also serve HTTPS with certificates from an ACME CA (Let's Encrypt by default)")
	f.StringVar(&tlsFlags.Email, "email", "", "ACME account e-mail, required with --tls (default: acme_email under [settings.tls])")
	f.BoolVar(&tlsFlags.Staging, "staging", false, "use Let's Encrypt's staging CA (untrusted certificates, generous rate limits)")
	f.StringVar(&tlsFlags.ACMEDirectory, "acme-directory", "", "URL of another ACME CA's directory")
	f.StringVar(&tlsFlags.CertFile, "tls-cert", "", "serve HTTPS with this certificate chain (PEM) instead of ACME; with --tls-key")
	f.StringVar(&tlsFlags.KeyFile, "tls-key", "", "private key (PEM) of --tls-cert")
	f.StringVar(&tlsFlags.Host, "tls-host", "", "address the HTTPS and HTTP redirect listeners bind (default all addresses)")
	f.IntVar(&httpsPort, "https-port", 0, "HTTPS port (default: https_port under [settings.tls], 443); 0 picks a free one")
	f.IntVar(&httpPort, "http-port", 0, "HTTP port for redirects and ACME HTTP-01 (default: http_port, 80); 0 picks a free one")
	f.DurationVar(&handoffTimeout, "handoff-timeout", 30*time.Second, "how long a new binary may take to become ready during an upgrade")
	f.BoolVar(&allowUnlimited, "allow-unlimited", false, "run services with memory_limit_mb or cpu_shares without limits where no cgroup can be made, instead of refusing to start")
	return cmd
}
