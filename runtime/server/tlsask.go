package server

import (
	"net/http"

	"github.com/tenement/ten/runtime/router"
	"github.com/tenement/ten/runtime/supervisor"
)

// withAsk serves router.AskPath (the on-demand TLS question of a front
// end such as Caddy, see `ten caddy`) beside the API. It is not under
// /api/: the proxy asks without a token, and the answer only says whether
// a name routes somewhere, which a request to that name shows anyway.
//
// The policy is the one `ten serve --tls` applies to its own certificates
// (supervisor.CanServe): a configured service, and a valid instance id
// under it, since a request for a new id spawns that instance.
func withAsk(domain string, rt *router.Router, sup *supervisor.Supervisor, apiHandler http.Handler) http.Handler {
	ask := router.AskHandler(domain, rt.HostTarget, func(t router.Target) bool {
		return sup.CanServe(t.Service, t.ID) == nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == router.AskPath {
			ask.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	})
}
