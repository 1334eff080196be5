// Package api serves ten's REST management API, /health and /metrics.
//
// Routes, JSON shapes and status codes follow tenement v0.2.x:
//
//	GET    /health                          no auth: status, version, pid, schema, nonce
//	GET    /metrics                         no auth: Prometheus text format
//	GET    /api/instances                   list (a tenant token sees its own)
//	POST   /api/instances/spawn             {"process","id"}
//	DELETE /api/instances/{service:id}      stop
//	POST   /api/instances/{service:id}/restart
//	PUT    /api/instances/{service:id}/weight {"weight": 0..100}
//	GET    /api/instances/{service:id}/health
//	POST   /api/deploy                      admin: {"process","version","weight","timeout"}
//	POST   /api/route                       admin: {"process","from","to"}
//	GET    /api/logs                        ?process&id&level&search&limit
//	GET    /api/logs/stream                 server-sent events, same filters
//
// Every /api route needs "Authorization: Bearer TOKEN". Errors are
// {"error": "..."} with a 4xx or 5xx status.
package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenement/ten/runtime/logs"
	"github.com/tenement/ten/runtime/router"
	"github.com/tenement/ten/runtime/supervisor"
)

// Backend is what the API needs from the supervisor.
type Backend interface {
	Spawn(ctx context.Context, service, id string) (supervisor.Instance, error)
	Stop(ctx context.Context, service, id string) error
	Restart(ctx context.Context, service, id string) (supervisor.Instance, error)
	SetWeight(ctx context.Context, service, id string, weight int) error
	List() []supervisor.Instance
	Get(service, id string) (supervisor.Instance, bool)
	CheckHealth(ctx context.Context, service, id string) (supervisor.Instance, error)
}

// Options configure an API.
type Options struct {
	Backend Backend
	// DB is the state database: tokens, the audit log and tenant logs.
	DB *sql.DB
	// LogPolicy is the log retention in force, reported by /api/logs/range.
	LogPolicy logs.Policy
	// Health is returned by GET /health (Status is filled in).
	Health Health
	// Metrics is served at /metrics; nil serves an empty registry.
	Metrics *Metrics
	// Limiter throttles failed authentication per (client, token prefix);
	// default 10 per minute.
	Limiter *Limiter
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed when counting failed authentications ([settings]
	// trusted_proxies).
	TrustedProxies router.TrustedProxies
	Logger         *slog.Logger
	Now            func() time.Time
	// FollowInterval is how often /api/logs/stream polls; default 250ms.
	FollowInterval time.Duration
	// KeepAlive is the interval of SSE comment lines on an idle stream;
	// default 15s.
	KeepAlive time.Duration
	// HealthPoll is how often a deploy re-checks a new instance's health;
	// default 100ms.
	HealthPoll time.Duration
	// Streams, when done, ends every open log stream: a server that is
	// shutting down must not wait for followers that never disconnect.
	Streams context.Context
	// MaxStreams bounds the log streams one token may hold open; more get
	// 429. Default DefaultMaxStreams.
	MaxStreams int
}

// API is the http.Handler of the management API.
type API struct {
	opts    Options
	tokens  *Tokens
	streams *streamSlots
	mux     *http.ServeMux
	log     *slog.Logger
}

// New returns the API handler.
func New(opts Options) *API {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Limiter == nil {
		opts.Limiter = NewLimiter(DefaultAuthFailures, DefaultAuthWindow, opts.Now)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(opts.Backend.List)
	}
	if opts.FollowInterval <= 0 {
		opts.FollowInterval = 250 * time.Millisecond
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.HealthPoll <= 0 {
		opts.HealthPoll = 100 * time.Millisecond
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = DefaultMaxStreams
	}
	a := &API{opts: opts, tokens: NewTokens(opts.DB, opts.Now), streams: newStreamSlots(opts.MaxStreams), log: opts.Logger}

	authed := http.NewServeMux()
	authed.HandleFunc("GET /api/instances", a.listInstances)
	authed.Handle("POST /api/instances/spawn", a.toSupervisor(http.HandlerFunc(a.spawn)))
	authed.Handle("DELETE /api/instances/{instance}", a.toSupervisor(http.HandlerFunc(a.stop)))
	authed.Handle("POST /api/instances/{instance}/restart", a.toSupervisor(http.HandlerFunc(a.restart)))
	authed.Handle("PUT /api/instances/{instance}/weight", a.toSupervisor(http.HandlerFunc(a.setWeight)))
	authed.HandleFunc("GET /api/instances/{instance}/health", a.instanceHealth)
	authed.HandleFunc("GET /api/instances/{instance}/storage", a.instanceStorage)
	authed.Handle("POST /api/deploy", a.toSupervisor(http.HandlerFunc(a.deploy)))
	authed.Handle("POST /api/route", a.toSupervisor(http.HandlerFunc(a.route)))
	authed.HandleFunc("GET /api/logs", a.queryLogs)
	authed.HandleFunc("GET /api/logs/stream", a.limitStreams(a.streamLogs))
	authed.HandleFunc("GET /api/logs/range", a.logRange)
	authed.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})

	a.mux = http.NewServeMux()
	a.mux.HandleFunc("GET /health", a.health)
	a.mux.Handle("GET /metrics", opts.Metrics.Handler())
	a.mux.Handle("/api/", a.authenticate(authed))
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Tokens returns the token store the API verifies against.
func (a *API) Tokens() *Tokens { return a.tokens }

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	h := a.opts.Health
	h.Status = "ok"
	if h.Capabilities == nil {
		h.Capabilities = []string{}
	}
	writeJSON(w, http.StatusOK, h)
}

type identityKey struct{}

func identityOf(r *http.Request) Identity {
	id, _ := r.Context().Value(identityKey{}).(Identity)
	return id
}

// authenticate checks the bearer token. The scheme is case-insensitive and
// the token is taken verbatim after one space, as tenement does.
//
// Failed attempts are limited per (client, token prefix): see Limiter. A
// valid token is never refused, even from a client that is locked out:
// tenement's limiter (cli/src/server.rs auth_middleware, one global failure
// count) let anyone lock the operator out, and behind Caddy or nginx every
// client shares one address. A locked-out client's wrong tokens get 429
// instead of 401; what keeps them cheap is that a token whose prefix
// matches no stored token is refused without Argon2 (tokens.go).
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := clientAddr(r, a.opts.TrustedProxies)
		token, ok := bearer(r.Header.Get("Authorization"))
		key := limitKey(client, token)
		if !ok {
			a.refuse(w, key, http.StatusUnauthorized, `Bearer realm="ten"`,
				"missing bearer token: pass --token, set TENEMENT_TOKEN, or create one with `ten token-gen`")
			return
		}
		id, err := a.tokens.Verify(r.Context(), token)
		switch {
		case errors.Is(err, errBadToken):
			a.log.Info("authentication failed", "client", client, "path", r.URL.Path)
			a.refuse(w, key, http.StatusUnauthorized, `Bearer realm="ten", error="invalid_token"`, "invalid token")
			return
		case err != nil:
			storeError(w, a.log, "verify token", r, err, "cannot verify token")
			return
		}
		ctx := withToken(context.WithValue(r.Context(), identityKey{}, id), token)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// refuse answers a failed authentication: 429 once key is locked out,
// otherwise the given status, and records the failure.
func (a *API) refuse(w http.ResponseWriter, key string, status int, challenge, msg string) {
	if blocked, wait := a.opts.Limiter.Blocked(key); blocked {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
		writeError(w, http.StatusTooManyRequests, "too many failed authentication attempts; retry later")
		return
	}
	a.opts.Limiter.Fail(key)
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, status, msg)
}

func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// maxBody bounds request bodies; the API's are a few dozen bytes.
const maxBody = 1 << 20

// decode reads a JSON body into v. Unknown fields are ignored, as
// tenement's serde structs did.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		msg := "invalid JSON body: " + err.Error()
		if errors.Is(err, io.EOF) {
			msg = "missing JSON body"
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			want, ok := fieldRanges[ute.Field]
			if !ok {
				want = jsonKind(ute.Type.Kind().String())
			}
			msg = fmt.Sprintf("invalid JSON body: field %q must be %s", ute.Field, want)
		}
		writeError(w, http.StatusBadRequest, msg)
		return false
	}
	return true
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), goKind == "ptr":
		return "an integer"
	case goKind == "string":
		return "a string"
	}
	return "a " + goKind
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Error{Error: msg})
}
