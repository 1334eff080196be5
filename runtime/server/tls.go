package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/tenement/ten/runtime/handoff"
	"github.com/tenement/ten/runtime/router"
	"github.com/tenement/ten/runtime/supervisor"
	"github.com/tenement/ten/runtime/tlsserve"
)

// Names of the TLS listeners in a handoff (and for systemd socket
// activation: FileDescriptorName=https / http-redirect).
const (
	listenerHTTPS    = "https"
	listenerRedirect = "http-redirect"
)

// tlsFront is the HTTPS side of a server: the TLS listener, served by the
// server's own http.Server (so draining and connection tracking cover it),
// and the plain-HTTP listener on http_port that answers ACME HTTP-01 and
// redirects to HTTPS. Both sockets go to a successor in a handoff; the
// certificates stay in the cache directory, where the successor finds them.
type tlsFront struct {
	https    net.Listener // plain TCP; TLS is layered on when served
	redirect net.Listener
	redirSrv *http.Server
}

// listenTLS takes the TLS listeners from a handing-over parent or systemd,
// or opens them. It returns nil when TLS is off (closing any inherited
// TLS listener, which this server would never serve).
func listenTLS(opts Options, log *slog.Logger) (*tlsFront, error) {
	var inherited map[string]net.Listener
	if opts.Inherited != nil {
		inherited = opts.Inherited.Listeners
	}
	if opts.TLS == nil {
		for _, name := range []string{listenerHTTPS, listenerRedirect} {
			if ln := inherited[name]; ln != nil {
				log.Warn("closing an inherited TLS listener: this server runs without TLS", "listener", name, "addr", ln.Addr())
				ln.Close()
			}
		}
		return nil, nil
	}
	f := &tlsFront{}
	var err error
	if f.https, err = takeOrListen(inherited[listenerHTTPS], opts.TLS.Host, opts.TLS.HTTPSPort, "https_port", log); err != nil {
		return nil, err
	}
	if f.redirect, err = takeOrListen(inherited[listenerRedirect], opts.TLS.Host, opts.TLS.HTTPPort, "http_port", log); err != nil {
		f.https.Close()
		return nil, err
	}
	return f, nil
}

func takeOrListen(ln net.Listener, host string, port int, key string, log *slog.Logger) (net.Listener, error) {
	if ln != nil {
		if got := listenerPort(ln); port != 0 && got != port {
			log.Warn("serving the inherited socket, not the configured port; restart to move", "key", key, "port", port, "inherited", got)
		}
		return ln, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if errors.Is(err, syscall.EACCES) && port < 1024 {
		return nil, fmt.Errorf("listen for %s %d: %w: ports below 1024 need root or CAP_NET_BIND_SERVICE (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE), or choose a port above 1023", key, port, err)
	}
	if err != nil {
		return nil, fmt.Errorf("listen for %s %d: %w", key, port, err)
	}
	return ln, nil
}

func listenerPort(ln net.Listener) int {
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// serve starts serving HTTPS on srv and the redirect port on a server of
// its own, which stops when srv shuts down. Serve errors go to errc,
// without blocking.
func (f *tlsFront) serve(ctx context.Context, opts Options, srv *http.Server, rt *router.Router, sup *supervisor.Supervisor,
	log *slog.Logger, errc chan<- error) error {
	if f == nil {
		return nil
	}
	log = log.With("component", "tls")
	mgr, err := tlsserve.New(tlsserve.Options{
		Settings:  opts.TLS,
		Allow:     routable(rt, sup, opts.TLS.Domain),
		HTTPSPort: listenerPort(f.https),
		Logger:    log,
	})
	if err != nil {
		return err
	}
	f.redirSrv = &http.Server{
		Handler:           mgr.HTTPHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	srv.RegisterOnShutdown(func() {
		// Redirects and challenge answers are short: a few seconds do.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if f.redirSrv.Shutdown(ctx) != nil {
			f.redirSrv.Close()
		}
	})
	report := func(err error) {
		if errors.Is(err, http.ErrServerClosed) {
			return
		}
		select {
		case errc <- err:
		default:
		}
	}
	go func() { report(srv.Serve(tls.NewListener(f.https, mgr.TLSConfig()))) }()
	go func() { report(f.redirSrv.Serve(f.redirect)) }()
	for _, w := range opts.TLS.Warnings {
		log.Warn(w)
	}
	mode := "acme"
	if !opts.TLS.ACME() {
		mode = "certificate file"
	}
	log.Info("ten listening (TLS)", "https", f.https.Addr().String(), "http", f.redirect.Addr().String(),
		"domain", opts.TLS.Domain, "certificates", mode)
	go mgr.Prefetch(ctx)
	return nil
}

// routable is the certificate policy: a host that the router resolves (a
// [routing] host rule, or a name under the domain) to a configured service
// and a valid instance id.
func routable(rt *router.Router, sup *supervisor.Supervisor, domain string) func(context.Context, string) error {
	return func(_ context.Context, host string) error {
		t, ok := rt.HostTarget(host)
		if !ok {
			return fmt.Errorf("not a tenant host under %s nor one of [routing]", domain)
		}
		return sup.CanServe(t.Service, t.ID)
	}
}

// filers adds the TLS listeners to those handed to a successor.
func (f *tlsFront) filers(m map[string]handoff.Filer) error {
	if f == nil {
		return nil
	}
	for name, ln := range map[string]net.Listener{listenerHTTPS: f.https, listenerRedirect: f.redirect} {
		filer, ok := ln.(handoff.Filer)
		if !ok {
			return fmt.Errorf("%s listener %T cannot be handed over", name, ln)
		}
		m[name] = filer
	}
	return nil
}

// stopAccepting closes the HTTPS listener, releasing an accept stuck in
// blocking mode as stopAccepting does for the main listener.
func (f *tlsFront) stopAccepting() (stopWaking func()) {
	if f == nil {
		return func() {}
	}
	// The redirect listener is closed by its server's Shutdown.
	a, b := wakeAccept(f.https.Addr()), wakeAccept(f.redirect.Addr())
	f.https.Close()
	return func() { a(); b() }
}

func (f *tlsFront) close() {
	if f == nil {
		return
	}
	f.https.Close()
	f.redirect.Close()
}
