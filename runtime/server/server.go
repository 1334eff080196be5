// Package server wires `ten serve` together: the state database, the
// supervisor, the router, the management API and the HTTP server, and takes
// them down again in order on shutdown.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/tenement/ten/migrations"
	"github.com/tenement/ten/runtime/admin"
	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/handoff"
	"github.com/tenement/ten/runtime/router"
	"github.com/tenement/ten/runtime/store"
	"github.com/tenement/ten/runtime/supervisor"
	"github.com/tenement/ten/runtime/tlsserve"
	"github.com/tenement/ten/version"
)

// Options configure Run.
type Options struct {
	Config *config.Config // required, with the data-dir override applied
	Port   int            // ignored when Listener is set
	Bind   string         // listen address; default DefaultBind (loopback)
	Domain string         // base domain for {id}.{service}.{domain}; default "localhost"
	Logger *slog.Logger

	// Listener, if set, is served instead of listening on Bind:Port; an
	// inherited socket is handed in this way.
	Listener net.Listener
	// Inherited holds what a handing-over parent or systemd passed us; its
	// "http" listener is served and the parent is told once we are ready.
	Inherited *handoff.Inherited
	// Args are the `ten` arguments this server was started with; a handoff
	// without explicit arguments starts the new binary with the same ones.
	Args []string
	// Reload, when it delivers, upgrades this server in place to its own
	// executable (SIGUSR2, systemd's ExecReload).
	Reload <-chan os.Signal
	// HandoffTimeout bounds the wait for a new binary to report ready.
	// Default 30s.
	HandoffTimeout time.Duration

	// DrainTimeout bounds how long shutdown waits for in-flight requests
	// before closing their connections. Default 30s.
	DrainTimeout time.Duration
	// KeepTenants leaves the tenants running on shutdown (for a successor
	// server to adopt) instead of stopping them.
	KeepTenants bool
	// Ready, if set, is called with the listening address once the server
	// accepts requests.
	Ready func(net.Addr)
	// AllowUnlimited starts services with memory_limit_mb or cpu_shares
	// without limits where no cgroup can be made, instead of refusing to
	// start (see supervisor.Options.AllowUnlimited).
	AllowUnlimited bool
	// Supervisor adjusts the supervisor options before it is created
	// (tests shorten its intervals).
	Supervisor func(*supervisor.Options)
	// TLS, if set, also serves HTTPS and an HTTP redirect port (tls.go).
	TLS *tlsserve.Settings
}

// DefaultDomain is the base domain when none is given, as tenement.
const DefaultDomain = "localhost"

// Run serves until ctx is cancelled (SIGTERM or SIGINT in `ten serve`), then
// shuts down: stop accepting, drain in-flight requests, stop the tenants.
func Run(ctx context.Context, opts Options) error {
	if opts.Config == nil {
		return errors.New("server: no configuration")
	}
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	if opts.Bind == "" {
		opts.Bind = DefaultBind
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg := opts.Config

	// Open creates the data directory (0700) when it does not exist yet.
	db, err := store.Open(ctx, cfg.DBPath(), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	store.WarnLoosePermissions(db.Path, log)
	st, err := migrations.Inspect(ctx, db.DB)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}

	// Listen before starting tenants: a taken port should fail the start
	// before anything has been spawned.
	ln := opts.Listener
	if ln == nil && opts.Inherited != nil {
		ln = opts.Inherited.HTTP()
	}
	if ln == nil {
		ln, err = net.Listen("tcp", net.JoinHostPort(opts.Bind, strconv.Itoa(opts.Port)))
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	defer ln.Close()
	front, err := listenTLS(opts, log)
	if err != nil {
		return err
	}
	defer front.close()

	serverID := newServerID()
	var sup *supervisor.Supervisor
	metrics := api.NewMetrics(func() []supervisor.Instance { return sup.List() })
	metrics.KnowServices(func(s string) bool { _, ok := cfg.Services[s]; return ok })
	supOpts := supervisor.Options{
		Config:   cfg,
		DB:       db.DB,
		ServerID: serverID,
		Addr:     ln.Addr().String(),
		Version:  version.Version,
		Logger:   log.With("component", "supervisor"),
		// Under root, tenants must not share ten's user: see credential.go.
		TenantUser: config.DefaultTenantUser,

		AllowUnlimited: opts.AllowUnlimited,
	}
	if opts.Supervisor != nil {
		opts.Supervisor(&supOpts)
	}
	hook := supOpts.OnEvent
	supOpts.OnEvent = func(e supervisor.Event) {
		metrics.ObserveEvent(e)
		if hook != nil {
			hook(e)
		}
	}
	sup, err = supervisor.New(supOpts)
	if err != nil {
		return err
	}

	if err := sup.Start(ctx); err != nil {
		sup.Shutdown(context.Background(), !opts.KeepTenants)
		return fmt.Errorf("start supervisor: %w", err)
	}

	trusted, err := router.ParseTrustedProxies(cfg.Settings.TrustedProxies)
	if err != nil {
		sup.Shutdown(context.Background(), !opts.KeepTenants)
		return err
	}
	rt := router.New(router.Options{
		TrustedProxies: trusted,
		Backend:        sup,
		Domain:         opts.Domain,
		Routes:         router.Routes{Default: cfg.Routing.Default, Subdomain: cfg.Routing.Subdomain, Path: cfg.Routing.Path},
		Timeout:        requestTimeout(cfg),
		Observe:        metrics.ObserveProxy,
		Logger:         log.With("component", "router"),
	})
	for _, w := range rt.Warnings() {
		log.Warn("ignoring routing rule", "rule", w)
	}
	// Log streams never go idle on their own; they end when shutdown
	// starts so that draining does not wait for them.
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	policy := logPolicy(cfg.Settings)
	stopRetention := runRetention(db.DB, policy, sup.IsSupervisor, log.With("component", "logs"))
	defer stopRetention()
	apiHandler := api.New(api.Options{
		TrustedProxies: trusted,
		Backend:        sup,
		DB:             db.DB,
		LogPolicy:      policy,
		Health: api.Health{
			Version:       version.Version,
			APIVersion:    version.APIVersion,
			PID:           os.Getpid(),
			SchemaVersion: st.Version,
			Nonce:         os.Getenv("TEN_HEALTH_NONCE"),
			Capabilities:  admin.Capabilities,
			ServerID:      serverID,
		},
		Metrics: metrics,
		Logger:  log.With("component", "api"),
		Streams: streams,
	})

	conns := newClientConns()
	srv := &http.Server{
		ConnState:         conns.track,
		Handler:           conns.closeWhenDraining(Handler(rt, withAsk(opts.Domain, rt, sup, apiHandler))),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	srv.RegisterOnShutdown(endStreams)

	s := &server{
		opts:      opts,
		log:       log,
		http:      srv,
		sup:       sup,
		ln:        ln,
		id:        serverID,
		schema:    st.Version,
		started:   time.Now(),
		handedOff: make(chan struct{}),
		conns:     conns,
		tls:       front,
	}
	ctl, err := handoff.ListenControl(cfg.Settings.DataDir, s, log.With("component", "control"))
	if err != nil {
		sup.Shutdown(context.Background(), !opts.KeepTenants)
		return err
	}
	defer ctl.Close()

	serveErr := make(chan error, 1)
	if err := front.serve(ctx, opts, srv, rt, sup, log, serveErr); err != nil {
		sup.Shutdown(context.Background(), !opts.KeepTenants)
		return err
	}
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("ten listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String(),
		"domain", opts.Domain, "server_id", serverID, "version", version.Version,
		"supervisor", sup.IsSupervisor())
	if exposedWithoutTLS(ln.Addr(), opts.TLS != nil) {
		log.Warn("listening on a non-loopback address without TLS: the API and tenants are reachable in clear text from other machines; put Caddy or nginx in front and bind 127.0.0.1, or use --tls",
			"addr", ln.Addr().String())
	}
	s.announceReady()
	if opts.Ready != nil {
		opts.Ready(ln.Addr())
	}

	for {
		select {
		case <-ctx.Done():
			return s.shutdown()
		case <-s.handedOff:
			return s.exitAfterHandoff()
		case <-opts.Reload:
			s.reload()
		case err := <-serveErr:
			log.Error("http server stopped", "err", err)
			sup.Shutdown(context.Background(), !opts.KeepTenants)
			return fmt.Errorf("serve: %w", err)
		}
	}
}

// Handler sends requests for hosts under the domain, and those the
// [routing] rules claim, to the router (tenants, or a bare 404) and all
// others, such as 127.0.0.1:8080 or the domain itself, to the API (/health,
// /metrics, /api/...).
func Handler(rt *router.Router, apiHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.Owns(r) {
			rt.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	})
}

// requestTimeout gives each service its request_timeout plus its
// startup_timeout: a request that wakes an idle instance waits for the
// start before its own time begins to matter.
func requestTimeout(cfg *config.Config) func(string) time.Duration {
	return func(service string) time.Duration {
		svc, ok := cfg.Services[service]
		if !ok {
			return router.DefaultTimeout
		}
		req, start := svc.RequestTimeout, svc.StartupTimeout
		if req <= 0 {
			req = 30
		}
		if start <= 0 {
			start = 10
		}
		return time.Duration(req+start) * time.Second
	}
}

// newServerID names this server process in the database (instance owner,
// lease holder). It is random per process: a restarted server is a new
// server that adopts the old one's tenants.
func newServerID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
