package router

import (
	"net/http"
	"strings"
)

// AskPath is where ten answers a TLS front end's question "may I obtain a
// certificate for this name?" (Caddy's on_demand_tls ask: GET
// AskPath?domain=NAME; any status but 2xx means no).
const AskPath = "/.well-known/ten/tls-ask"

// Routable reports whether a request for a target would be served: in
// `ten serve`, a configured service and a valid instance id (a request for
// a new id spawns it).
type Routable func(Target) bool

// AskHandler answers AskPath: 200 for the domain itself and for names under
// it whose target is routable, 404 for every other name.
// Refusing names that route nowhere keeps anyone who can point a name at
// the proxy from making it request certificates for junk, which would use
// up the CA's rate limits for the domain.
//
// resolve maps a name to its target the way requests to it are routed
// (Router.HostTarget: [routing] host rules, then the host convention).
func AskHandler(domain string, resolve func(host string) (Target, bool), routable Routable) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("domain")
		if name == "" {
			http.Error(w, "missing ?domain=NAME", http.StatusBadRequest)
			return
		}
		if !askAllows(name, domain, resolve, routable) {
			http.Error(w, "no route for "+name, http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

func askAllows(name, domain string, resolve func(string) (Target, bool), routable Routable) bool {
	// A certificate name has no port; one with a port is not ours to judge.
	if strings.ContainsAny(name, ":/") {
		return false
	}
	if strings.EqualFold(strings.TrimSuffix(name, "."), strings.TrimSuffix(domain, ".")) {
		return true
	}
	t, ok := resolve(name)
	return ok && validLabel(t.Service) && (t.ID == "" || validLabel(t.ID)) && routable(t)
}

// validLabel reports whether s can be one DNS label of a host name.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
