// Package router sends requests for {id}.{service}.{domain} to that tenant
// instance and requests for {service}.{domain} to one of the service's
// instances chosen by weight.
//
// It is a net/http/httputil.ReverseProxy whose transport asks a Backend (the
// supervisor) for the instance's address just before dialling. The backend
// wakes idle instances and holds the request while a crashed one is
// respawned, so the router itself only has to retry a dial that raced a
// crash. Bodies, streaming responses (SSE), upgrades and every end-to-end
// header, Authorization included, pass through untouched.
package router

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tenement/ten/runtime/supervisor"
)

// Backend resolves targets to addresses. Acquire and AcquireService may
// block while an instance starts; release must be called once the request
// is over (the router calls it when the response body is closed, so a
// streaming response counts as in flight until it ends).
type Backend interface {
	Acquire(ctx context.Context, service, id string) (addr string, release func(), err error)
	AcquireService(ctx context.Context, service string) (id, addr string, release func(), err error)
}

// Result describes one proxied request, for metrics and access logs.
type Result struct {
	Service  string
	ID       string // instance that served it; "" if none was reached
	Method   string
	Status   int
	Duration time.Duration // until the handler returned, i.e. the whole response
}

// Options configure a Router.
type Options struct {
	Backend Backend
	// Domain is the base domain; tenants live at {id}.{service}.{Domain}.
	Domain string
	// Transport dials the tenants. Default: NewTransport().
	Transport http.RoundTripper
	// Timeout bounds, per service, the time from the request's arrival to
	// the tenant's response headers, waking and respawn waits included.
	// Streaming bodies are not cut by it. Default: 30s for every service.
	Timeout func(service string) time.Duration
	// Routes are the [routing] rules of tenement.toml (see Routes).
	Routes Routes
	// TrustedProxies, when set, are the only peers whose forwarding
	// headers reach the tenant; from any other peer the tenant sees ten's
	// own view (the peer's address, http, the Host). When empty, the
	// headers pass as they came (a proxy in front is assumed), as before.
	TrustedProxies TrustedProxies
	// Observe, if set, is called after every proxied request.
	Observe func(Result)
	Logger  *slog.Logger
}

// DefaultTimeout is the Options.Timeout of every service when none is set.
const DefaultTimeout = 30 * time.Second

// Router is an http.Handler that proxies to tenants.
type Router struct {
	domain  string
	rules   *rules
	bad     []string
	observe func(Result)
	log     *slog.Logger
	proxy   *httputil.ReverseProxy
}

// New returns a Router.
func New(opts Options) *Router {
	if opts.Backend == nil {
		panic("router: nil Backend")
	}
	base := opts.Transport
	if base == nil {
		base = NewTransport()
	}
	timeout := opts.Timeout
	if timeout == nil {
		timeout = func(string) time.Duration { return DefaultTimeout }
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rt := &Router{domain: asciiLower(strings.TrimSuffix(opts.Domain, ".")), observe: opts.Observe, log: log}
	rt.rules, rt.bad = compile(opts.Routes)
	rt.proxy = &httputil.ReverseProxy{
		Rewrite:      rewriter(opts.TrustedProxies),
		Transport:    &acquirer{backend: opts.Backend, base: base, timeout: timeout},
		BufferPool:   bufferPool{},
		ErrorHandler: rt.proxyError,
		// Copy errors are almost always clients that went away.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return rt
}

// Match reports the target of r: by its Host under the domain, or by the
// [routing] rules (see Routes).
func (rt *Router) Match(r *http.Request) (Target, bool) {
	t, ok, _ := rt.resolve(r)
	return t, ok
}

// Owns reports whether the router answers r (with a 404 when it names no
// target) rather than the API: every host under the domain or claimed by a
// host rule, and the requests path and default rules send to a service.
func (rt *Router) Owns(r *http.Request) bool {
	_, _, owned := rt.resolve(r)
	return owned
}

// ServeHTTP proxies r to the target its Host names, or answers 404.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, ok := rt.Match(r)
	if !ok {
		NotFound(w)
		return
	}
	rt.Proxy(w, r, t)
}

// Proxy sends r to t.
func (rt *Router) Proxy(w http.ResponseWriter, r *http.Request, t Target) {
	start := time.Now()
	st := &reqState{target: t}
	if n, err := strconv.Atoi(r.Header.Get(hopsHeader)); err == nil && n > 0 {
		st.hops = n
	}
	sw := &statusWriter{ResponseWriter: w}
	rt.proxy.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	if rt.observe != nil {
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		rt.observe(Result{
			Service:  t.Service,
			ID:       st.chosen(),
			Method:   r.Method,
			Status:   status,
			Duration: time.Since(start),
		})
	}
}

// rewriter turns the inbound request into the outbound one. The host is a
// placeholder: the acquirer puts the instance's address there.
func rewriter(trusted TrustedProxies) func(*httputil.ProxyRequest) {
	return func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme = "http"
		pr.Out.URL.Host = placeholderHost
		// The tenant sees the query string byte for byte and the Host the
		// client asked for, as tenement passes them.
		pr.Out.URL.RawQuery = pr.In.URL.RawQuery
		pr.Out.Host = pr.In.Host
		pr.Out.Header.Del(hopsHeader)
		if len(trusted) > 0 && !trusted.Peer(pr.In.RemoteAddr) {
			// Not from our proxy: the client's forwarding headers are its
			// own invention. ReverseProxy has removed them from Out; say
			// what we saw.
			pr.SetXForwarded()
			return
		}
		// A TLS-terminating proxy in front (Caddy) has set these; the
		// tenant needs the client's view (https, the public host), not
		// ours. Keep them and only append the hop we saw to
		// X-Forwarded-For.
		in := pr.In.Header
		pr.Out.Header["X-Forwarded-For"] = in["X-Forwarded-For"]
		pr.SetXForwarded()
		for _, h := range []string{"Forwarded", "X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v, ok := in[h]; ok {
				pr.Out.Header[h] = v
			}
		}
	}
}

const placeholderHost = "tenant.invalid"

// proxyError answers a request that never got a response from a tenant.
// The bodies are deliberately generic: an unknown service, a missing
// instance and a malformed name all look the same from outside.
func (rt *Router) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	st, _ := r.Context().Value(stateKey{}).(*reqState)
	status := StatusFor(err)
	lvl := slog.LevelWarn
	if status == http.StatusNotFound || errors.Is(err, context.Canceled) {
		lvl = slog.LevelDebug
	}
	target := ""
	if st != nil {
		target = st.target.String()
	}
	rt.log.Log(r.Context(), lvl, "proxy", "target", target, "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	if errors.Is(err, supervisor.ErrTooManyInstances) {
		w.Header().Set("Retry-After", strconv.Itoa(int(supervisor.LimitRetryAfter/time.Second)))
	}
	writeStatus(w, status)
}

// StatusFor maps an error from the backend or the tenant to the status the
// client gets.
func StatusFor(err error) int {
	switch {
	case errors.Is(err, supervisor.ErrUnknownService),
		errors.Is(err, supervisor.ErrNotFound),
		errors.Is(err, supervisor.ErrInvalidID):
		return http.StatusNotFound
	case errors.Is(err, supervisor.ErrFailed),
		errors.Is(err, supervisor.ErrShutdown),
		errors.Is(err, supervisor.ErrTooManyInstances): // max_instances: Retry-After too
		return http.StatusServiceUnavailable
	case errors.Is(err, errTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}

// NotFound writes the 404 every unroutable request gets.
func NotFound(w http.ResponseWriter) { writeStatus(w, http.StatusNotFound) }

func writeStatus(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write([]byte(http.StatusText(status) + "\n"))
}

// reqState travels with one proxied request from Proxy to the transport.
type reqState struct {
	target Target
	hops   int // servers that passed the request on (hopsHeader)
	mu     sync.Mutex
	id     string
}

func (s *reqState) setChosen(id string) {
	s.mu.Lock()
	s.id = id
	s.mu.Unlock()
}

func (s *reqState) chosen() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

type stateKey struct{}

// statusWriter records the status code. Unwrap lets ReverseProxy reach the
// underlying writer's Flush and Hijack through http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bufferPool recycles the 32 KiB copy buffers of ReverseProxy.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
