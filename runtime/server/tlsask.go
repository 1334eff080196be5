package server

import (
	"net/http"

	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/router"
	"github.com/tenement/ten/runtime/supervisor"
)

// withAsk serves router.AskPath (the on-demand TLS question of a front
// end such as Caddy, see `ten caddy`) beside the API. It is not under
// /api/: the proxy asks without a token, and the answer only says whether
// a name routes somewhere, which a request to that name shows anyway.
func withAsk(domain string, cfg *config.Config, known func(service, id string) bool, apiHandler http.Handler) http.Handler {
	ask := router.AskHandler(domain, func(t router.Target) bool {
		if _, ok := cfg.Services[t.Service]; !ok {
			return false
		}
		return t.ID == "" || known(t.Service, t.ID)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == router.AskPath {
			ask.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	})
}

// instanceKnown reports whether the supervisor knows service:id, in any
// state: an idle instance wakes on its first request, so it needs its
// certificate as much as a running one.
func instanceKnown(sup *supervisor.Supervisor) func(service, id string) bool {
	return func(service, id string) bool {
		_, ok := sup.Get(service, id)
		return ok
	}
}
