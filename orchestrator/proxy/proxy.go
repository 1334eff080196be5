// Package proxy switches the front proxy (Caddy or nginx) between the old
// and the new `ten serve` during a proxy-strategy upgrade, and back on
// rollback.
//
// The upgrade calls, in order:
//
//	ups, snap, err := d.Current(ctx)               // keep snap for rollback
//	err = d.Switch(ctx, []string{newAddr, oldAddr}) // new first, old as fail-over
//	err = proxy.Probe(ctx, nil, url, host, nonce)   // traffic reaches the new one
//	// ... drain and stop the old server ...
//	err = d.Switch(ctx, []string{newAddr})
//	err = d.Restore(ctx, snap)                      // only on rollback
//
// Every change is rendered, validated by the proxy itself and applied
// atomically: when the proxy refuses it, the running proxy and its files
// are left exactly as they were and the error wraps ErrRejected.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tenement/ten/internal/fsutil"
)

// Driver names accepted by New.
const (
	NameCaddy = "caddy"
	NameNginx = "nginx"
	NameNone  = "none"
)

// Defaults of the fail-over settings and of where the proxies are found.
const (
	DefaultTryDuration    = 5 * time.Second
	DefaultTryInterval    = 100 * time.Millisecond
	DefaultHealthURI      = "/health"
	DefaultHealthInterval = 500 * time.Millisecond
	DefaultHealthTimeout  = 2 * time.Second
	DefaultReloadTimeout  = 15 * time.Second
	DefaultCaddyAdminURL  = "http://localhost:2019"
	DefaultNginxInclude   = "/etc/nginx/ten-upstream.conf"
	DefaultUpstreamName   = "ten"
	// Markers around the part of a Caddyfile the Caddyfile driver rewrites.
	MarkerBegin = "# ten-upgrade:begin"
	MarkerEnd   = "# ten-upgrade:end"
)

// ErrRejected is wrapped by the errors of Switch and Restore when the proxy
// (or its validator) refused the change: the previous configuration is
// still active and the proxy's files are unchanged.
var ErrRejected = errors.New("proxy change rejected")

// Driver switches the upstreams of ten's route in a front proxy. An
// upstream is a backend address "host:port".
type Driver interface {
	// Name is "caddy", "nginx" or "none".
	Name() string
	// Current returns the upstreams the proxy routes ten's traffic to now,
	// in order of preference, and an opaque snapshot of the whole current
	// configuration that Restore puts back.
	Current(ctx context.Context) (upstreams []string, snapshot []byte, err error)
	// Switch routes ten's traffic to upstreams[0], failing over to the
	// others in order when it refuses connections or errors. One upstream
	// means no fail-over. It returns once the proxy serves the new
	// configuration.
	Switch(ctx context.Context, upstreams []string) error
	// Restore puts back a snapshot returned by Current (rollback).
	Restore(ctx context.Context, snapshot []byte) error
}

// Warner is implemented by drivers that know of conditions of this host
// under which a switch can still make some requests fail. The upgrade
// prints them before it starts.
type Warner interface {
	Warnings() []string
}

// Option configures a driver. Options that do not concern a driver are
// ignored by it, so one option list can serve New for any proxy.
type Option func(*settings)

type settings struct {
	adminURL  string // caddy admin mode
	caddyfile string // caddy Caddyfile mode
	include   string // nginx

	binary       string
	routeID      string
	match        []string
	upstreamName string

	tryDuration    time.Duration
	tryInterval    time.Duration
	healthURI      string
	healthInterval time.Duration
	healthTimeout  time.Duration

	client      *http.Client
	adminAddr   string // caddy reload --address
	nginxConfig string
	nginxPrefix string
	nginxArgs   []string
	pidFile     string

	reloadTimeout time.Duration
	logger        *slog.Logger

	// render, when set, transforms every rendered configuration before it
	// is validated and applied (tests use it to produce invalid ones).
	render func([]byte) []byte
}

func newSettings(opts []Option) settings {
	s := settings{
		upstreamName:   DefaultUpstreamName,
		tryDuration:    DefaultTryDuration,
		tryInterval:    DefaultTryInterval,
		healthURI:      DefaultHealthURI,
		healthInterval: DefaultHealthInterval,
		healthTimeout:  DefaultHealthTimeout,
		reloadTimeout:  DefaultReloadTimeout,
	}
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 30 * time.Second}
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// WithAdminURL is the Caddy admin API New("caddy") talks to (default
// http://localhost:2019).
func WithAdminURL(url string) Option { return func(s *settings) { s.adminURL = url } }

// WithCaddyfile makes New("caddy") manage this Caddyfile (rewrite, caddy
// validate, caddy reload) instead of talking to the admin API directly.
func WithCaddyfile(path string) Option { return func(s *settings) { s.caddyfile = path } }

// WithInclude is the upstream include file New("nginx") manages (default
// /etc/nginx/ten-upstream.conf).
func WithInclude(path string) Option { return func(s *settings) { s.include = path } }

// WithBinary is the caddy or nginx executable (default: caddy, or nginx,
// on PATH, then /usr/bin and /usr/sbin).
func WithBinary(path string) Option { return func(s *settings) { s.binary = path } }

// WithRouteID makes the Caddy admin driver manage the reverse_proxy
// handlers inside the JSON object whose "@id" is id.
func WithRouteID(id string) Option { return func(s *settings) { s.routeID = id } }

// WithMatch names ten's current address(es): the Caddy admin driver
// manages the reverse_proxy handlers that route to one of them.
func WithMatch(addrs ...string) Option {
	return func(s *settings) { s.match = append(s.match, addrs...) }
}

// WithUpstreamName is the name of the nginx upstream block (default "ten").
func WithUpstreamName(name string) Option { return func(s *settings) { s.upstreamName = name } }

// WithTryDuration is how long Caddy keeps trying upstreams for one request
// while there is more than one (lb_try_duration, default 5s).
func WithTryDuration(d time.Duration) Option { return func(s *settings) { s.tryDuration = d } }

// WithTryInterval is the pause between two tries (lb_try_interval,
// default 100ms).
func WithTryInterval(d time.Duration) Option { return func(s *settings) { s.tryInterval = d } }

// WithHealthCheck sets the active health check Caddy runs on each upstream
// while there are several (health_uri, default ten's /health, every
// interval, default 500ms): an upstream that refuses or fails it is
// skipped until it passes again. Without a health check Caddy's "first"
// policy would retry the failed upstream instead of failing over.
func WithHealthCheck(uri string, interval time.Duration) Option {
	return func(s *settings) {
		if uri != "" {
			s.healthURI = uri
		}
		if interval > 0 {
			s.healthInterval = interval
		}
	}
}

// WithHTTPClient is the client for the Caddy admin API.
func WithHTTPClient(c *http.Client) Option { return func(s *settings) { s.client = c } }

// WithAdminAddress is passed to `caddy reload --address` in Caddyfile
// mode; by default caddy reload uses the Caddyfile's admin option.
func WithAdminAddress(addr string) Option { return func(s *settings) { s.adminAddr = addr } }

// WithNginxConfig is the main nginx configuration file (nginx -c).
func WithNginxConfig(path string) Option { return func(s *settings) { s.nginxConfig = path } }

// WithNginxPrefix is the nginx prefix path (nginx -p).
func WithNginxPrefix(dir string) Option { return func(s *settings) { s.nginxPrefix = dir } }

// WithNginxArgs are extra arguments for `nginx -t` (e.g. -e, -g).
func WithNginxArgs(args ...string) Option {
	return func(s *settings) { s.nginxArgs = append(s.nginxArgs, args...) }
}

// WithPIDFile is the pid file of the nginx master to reload. By default it
// comes from the pid directive of the main config, else from nginx -V.
func WithPIDFile(path string) Option { return func(s *settings) { s.pidFile = path } }

// WithReloadTimeout bounds the wait for nginx to run the new config
// (default 15s).
func WithReloadTimeout(d time.Duration) Option { return func(s *settings) { s.reloadTimeout = d } }

// WithLogger receives one line per applied change.
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.logger = l } }

// New returns the driver for a [upgrade] proxy value: "caddy" (the admin
// API, or a Caddyfile with WithCaddyfile), "nginx" or "none" (also "").
func New(name string, opts ...Option) (Driver, error) {
	s := newSettings(opts)
	switch strings.ToLower(strings.TrimSpace(name)) {
	case NameCaddy:
		if s.caddyfile != "" {
			return newCaddyfile(s.caddyfile, s), nil
		}
		url := s.adminURL
		if url == "" {
			url = DefaultCaddyAdminURL
		}
		return newCaddyAdmin(url, s), nil
	case NameNginx:
		inc := s.include
		if inc == "" {
			inc = DefaultNginxInclude
		}
		return newNginx(inc, s), nil
	case NameNone, "":
		return None(), nil
	}
	return nil, fmt.Errorf("unknown proxy %q: use caddy, nginx or none ([upgrade] proxy)", name)
}

// None is the driver for installations without a managed proxy: Current
// returns nothing and Switch and Restore do nothing.
func None() Driver { return noneDriver{} }

type noneDriver struct{}

func (noneDriver) Name() string { return NameNone }
func (noneDriver) Current(context.Context) ([]string, []byte, error) {
	return nil, nil, nil
}
func (noneDriver) Switch(context.Context, []string) error { return nil }
func (noneDriver) Restore(context.Context, []byte) error  { return nil }

// checkUpstreams validates a Switch argument: one or more distinct
// host:port addresses that can be written into a proxy config verbatim.
func checkUpstreams(ups []string) error {
	if len(ups) == 0 {
		return errors.New("no upstreams given: pass at least the new server's address (host:port)")
	}
	seen := map[string]bool{}
	for _, u := range ups {
		if err := checkUpstream(u); err != nil {
			return err
		}
		if seen[normAddr(u)] {
			return fmt.Errorf("upstream %q is given twice", u)
		}
		seen[normAddr(u)] = true
	}
	return nil
}

func checkUpstream(u string) error {
	if u == "" || strings.ContainsAny(u, " \t\r\n;{}#\"'`\\") {
		return fmt.Errorf("invalid upstream %q: want host:port, e.g. 127.0.0.1:8081", u)
	}
	host, port, err := net.SplitHostPort(u)
	if err != nil || host == "" {
		return fmt.Errorf("invalid upstream %q: want host:port, e.g. 127.0.0.1:8081", u)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid upstream %q: port must be 1-65535", u)
	}
	return nil
}

// checkHealthURI validates the path of Caddy's active health check.
func checkHealthURI(uri string) error {
	if !strings.HasPrefix(uri, "/") || strings.ContainsAny(uri, " \t\r\n;{}#\"'`\\") {
		return fmt.Errorf("invalid health check URI %q: want a path such as /health", uri)
	}
	return nil
}

// normAddr makes addresses comparable: no http:// scheme, and the loopback
// names (localhost, 127.0.0.1, ::1, empty host) are one.
func normAddr(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "http://"), "h2c://")
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return strings.ToLower(s)
	}
	switch strings.ToLower(host) {
	case "", "localhost", "127.0.0.1", "::1":
		host = "loopback"
	}
	return strings.ToLower(host) + ":" + port
}

func containsAddr(list []string, a string) bool {
	n := normAddr(a)
	for _, l := range list {
		if normAddr(l) == n {
			return true
		}
	}
	return false
}

// findBinary resolves the proxy executable: the option, else PATH, else
// the Debian locations (nginx lives in /usr/sbin, often not on PATH).
func findBinary(opt, name string) string {
	if opt != "" {
		return opt
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return name
}

var errNoBinary = errors.New("not found: install it or pass its path (WithBinary)")

// run executes a command and returns its combined output, trimmed.
func run(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%s %w", bin, errNoBinary)
			return err.Error(), err
		}
		if text == "" {
			text = err.Error()
		}
		return text, err
	}
	return text, nil
}

// writeFileAtomic replaces path with data, keeping its mode and owner
// (fsutil.Replace). A symlink is followed, so its target is replaced.
func writeFileAtomic(path string, data []byte) error {
	return fsutil.Replace(resolve(path), data)
}

// resolve follows symlinks, so that the link's target is what changes.
func resolve(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}

// indentOf returns the leading blanks of a line.
func indentOf(line string) string {
	return line[:len(line)-len(strings.TrimLeft(line, " \t"))]
}

// tokens splits a config line into whitespace-separated tokens up to a
// comment (a token starting with #). Quotes are kept as part of tokens.
func tokens(line string) []string {
	var out []string
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, "#") {
			break
		}
		out = append(out, f)
	}
	return out
}
