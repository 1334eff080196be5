package router

import (
	"net"
	"strings"
)

// Target is where a request goes: one instance ({id}.{service}.{domain}),
// or a service whose instances share the traffic by weight
// ({service}.{domain}, ID empty).
type Target struct {
	Service string
	ID      string
}

// Weighted reports whether the target names a service rather than one
// instance.
func (t Target) Weighted() bool { return t.ID == "" }

// String returns "service:id", or "service" for a weighted target.
func (t Target) String() string {
	if t.ID == "" {
		return t.Service
	}
	return t.Service + ":" + t.ID
}

// ParseHost maps a Host header to a Target under domain, as tenement does:
//
//	prod.api.example.com -> api:prod
//	api.example.com      -> api (weighted)
//	example.com          -> no target (the API and /health live there)
//
// The port and a trailing dot are ignored and the domain is matched without
// regard to case. Hosts outside domain and hosts with more than two labels
// in front of it have no target.
func ParseHost(host, domain string) (Target, bool) {
	sub, ok := subdomain(host, domain)
	if !ok {
		return Target{}, false
	}
	first, rest, two := strings.Cut(sub, ".")
	switch {
	case !two:
		return Target{Service: first}, true
	case first == "" || rest == "" || strings.Contains(rest, "."):
		return Target{}, false
	default:
		return Target{Service: rest, ID: first}, true
	}
}

// IsSubdomain reports whether host is a name under domain, whether or not
// it names a target. Such hosts belong to tenants: those without a target
// get a 404, never the API.
func IsSubdomain(host, domain string) bool {
	_, ok := subdomain(host, domain)
	return ok
}

// subdomain returns the part of host in front of ".domain".
func subdomain(host, domain string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	domain = strings.TrimSuffix(domain, ".")
	if domain == "" || len(host) <= len(domain)+1 {
		return "", false
	}
	cut := len(host) - len(domain)
	if host[cut-1] != '.' || !strings.EqualFold(host[cut:], domain) {
		return "", false
	}
	return host[:cut-1], true
}
