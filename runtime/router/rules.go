package router

import (
	"net/http"
	"path"
	"sort"
	"strings"
)

// Routes is the [routing] table of tenement.toml. tenement declares it in
// tenement/src/config.rs (struct RoutingConfig: `default` "Default process
// to route to", `subdomain` "*.example.com" -> process, `path` "/api" ->
// process) but its server (cli/src/server.rs, subdomain_middleware and
// parse_subdomain) only ever routes {id}.{process}.{domain} and
// {process}.{domain}. ten gives the three keys the meaning tenement's
// declaration states, on top of that host convention:
//
//  1. Subdomain, exact host ("api.example.com" = "api"): the service, by
//     weight.
//  2. Subdomain, wildcard ("*.tenants.example.com" = "app"): the single
//     label in place of "*" names the instance: alice.tenants.example.com
//     reaches app:alice, as {id}.{service}.{domain} does. The longest
//     suffix wins.
//  3. The host convention {id}.{service}.{domain} / {service}.{domain}.
//  4. Path, on any other host (the bare domain, an IP address, a name
//     outside the domain): the longest prefix that matches whole path
//     segments ("/blog" matches /blog and /blog/x, not /blogs) sends the
//     request, path unchanged, to that service by weight.
//  5. Default: every remaining request to that service by weight.
//
// Hosts are compared lower-cased (NormalizeHost). Steps 4 and 5 never take
// ten's own endpoints (ReservedPath): /health, /metrics and /api/ stay the
// management API's on every host that no host rule claims, and on the bare
// domain always.
type Routes struct {
	Default   string
	Subdomain map[string]string
	Path      map[string]string
}

// rules is Routes compiled for matching.
type rules struct {
	dflt      string
	hosts     map[string]string // exact host -> service
	wildcards []suffixRule      // longest suffix first
	paths     []prefixRule      // longest prefix first
}

type suffixRule struct{ suffix, service string } // suffix starts with "."
type prefixRule struct{ prefix, service string } // prefix starts with "/", no trailing "/" unless "/"

// compile normalises the patterns. It reports the patterns it cannot use
// (the configuration check warns about their targets; these are the
// shapes it cannot route at all).
func compile(r Routes) (*rules, []string) {
	c := &rules{dflt: r.Default, hosts: map[string]string{}}
	var bad []string
	for pat, svc := range r.Subdomain {
		h := NormalizeHost(pat)
		switch {
		case strings.HasPrefix(h, "*.") && len(h) > 2 && !strings.Contains(h[2:], "*"):
			c.wildcards = append(c.wildcards, suffixRule{suffix: h[1:], service: svc})
		case h != "" && !strings.Contains(h, "*"):
			c.hosts[h] = svc
		default:
			bad = append(bad, "routing.subdomain "+pat+`: want a host name or "*.suffix"`)
		}
	}
	for pat, svc := range r.Path {
		if !strings.HasPrefix(pat, "/") {
			bad = append(bad, "routing.path "+pat+`: want a path starting with "/"`)
			continue
		}
		p := path.Clean(pat)
		c.paths = append(c.paths, prefixRule{prefix: p, service: svc})
	}
	sort.Slice(c.wildcards, func(i, j int) bool {
		a, b := c.wildcards[i].suffix, c.wildcards[j].suffix
		return len(a) > len(b) || len(a) == len(b) && a < b
	})
	sort.Slice(c.paths, func(i, j int) bool {
		a, b := c.paths[i].prefix, c.paths[j].prefix
		return len(a) > len(b) || len(a) == len(b) && a < b
	})
	sort.Strings(bad)
	return c, bad
}

// host applies the host rules (steps 1 and 2) to a normalised host.
func (c *rules) host(h string) (Target, bool) {
	if svc, ok := c.hosts[h]; ok {
		return Target{Service: svc}, true
	}
	for _, w := range c.wildcards {
		if label, ok := strings.CutSuffix(h, w.suffix); ok && label != "" && !strings.Contains(label, ".") {
			return Target{Service: w.service, ID: label}, true
		}
	}
	return Target{}, false
}

// fallback applies steps 4 and 5 to a request no host rule claimed.
func (c *rules) fallback(urlPath string) (Target, bool) {
	p := cleanPath(urlPath)
	for _, pr := range c.paths {
		if pr.prefix == "/" || p == pr.prefix || strings.HasPrefix(p, pr.prefix+"/") {
			return Target{Service: pr.service}, true
		}
	}
	if c.dflt != "" {
		return Target{Service: c.dflt}, true
	}
	return Target{}, false
}

// cleanPath is the path the decision is made on: dot segments resolved, so
// that /public/../admin is judged as the /admin the tenant will serve.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	return path.Clean(p)
}

// ReservedPath reports whether p is one of ten's own endpoints (/health,
// /metrics, /api and below), which path and default routes never take.
func ReservedPath(p string) bool {
	p = cleanPath(p)
	return p == "/health" || p == "/metrics" || p == "/api" || strings.HasPrefix(p, "/api/")
}

// resolve finds the target of r: host rules, then the host convention, then
// path and default rules. owned is true when the router must answer r
// (with a 404 if target is not ok): every host under the domain belongs to
// tenants.
func (rt *Router) resolve(r *http.Request) (t Target, ok, owned bool) {
	h := NormalizeHost(r.Host)
	if h == rt.domain && ReservedPath(r.URL.Path) {
		// The bare domain is where ten's API lives (ten-upgrade probes
		// /health there through the proxy), even if a host rule maps it.
		return Target{}, false, false
	}
	if t, ok := rt.rules.host(h); ok {
		return t, true, true
	}
	if sub, under := subdomain(h, rt.domain); under {
		t, ok := parseSub(sub)
		return t, ok, true
	}
	if ReservedPath(r.URL.Path) {
		return Target{}, false, false
	}
	t, ok = rt.rules.fallback(r.URL.Path)
	return t, ok, ok
}

// HostTarget resolves a host name alone, as requests to it are routed by
// their host: [routing] host rules first, then the {id}.{service}.{domain}
// convention. Path and default rules need a request's path, so a name
// only they would serve has no target: a certificate is for a name.
func (rt *Router) HostTarget(host string) (Target, bool) {
	h := NormalizeHost(host)
	if t, ok := rt.rules.host(h); ok {
		return t, true
	}
	return ParseHost(h, rt.domain)
}

// Warnings lists the [routing] patterns the router cannot use.
func (rt *Router) Warnings() []string { return rt.bad }
