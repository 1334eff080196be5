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
// The port and a trailing dot are ignored, and the whole host is lower-cased
// first (ASCII only): DNS names are case-insensitive, so ALICE.app.example.com
// must reach the instance app:alice and never start a second one. tenement's
// parse_subdomain (cli/src/server.rs) compared case-sensitively; that let one
// tenant be spawned twice. Hosts outside domain and hosts with more than two
// labels in front of it have no target.
func ParseHost(host, domain string) (Target, bool) {
	sub, ok := subdomain(NormalizeHost(host), domain)
	if !ok {
		return Target{}, false
	}
	return parseSub(sub)
}

// parseSub maps the labels in front of the domain to a target.
func parseSub(sub string) (Target, bool) {
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
	_, ok := subdomain(NormalizeHost(host), domain)
	return ok
}

// NormalizeHost returns the name a Host header designates: without the port,
// without the trailing dot of a fully qualified name, and in lower case.
// Only ASCII letters are folded: Unicode case folding would map look-alikes
// such as the Kelvin sign (U+212A) onto "k" and let two spellings reach one
// tenant; non-ASCII names are left as they are and fail the name rules.
func NormalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	return asciiLower(host)
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// subdomain returns the part of host in front of ".domain"; host is
// normalised (NormalizeHost).
func subdomain(host, domain string) (string, bool) {
	domain = asciiLower(strings.TrimSuffix(domain, "."))
	if domain == "" || len(host) <= len(domain)+1 {
		return "", false
	}
	cut := len(host) - len(domain)
	if host[cut-1] != '.' || host[cut:] != domain {
		return "", false
	}
	return host[:cut-1], true
}
