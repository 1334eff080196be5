package api

import (
	"net/http"
	"net/http/httputil"
	"net/url"
)

// forwardedHeader marks a request one server passed to another, so that a
// request is never passed on twice (both servers think the other one
// supervises while the lease moves).
const forwardedHeader = "X-Ten-Forwarded-By"

// holder is implemented by a backend that may be a follower: during an
// upgrade two servers share the data directory and only the lease holder
// may change tenants.
type holder interface {
	Holder() (id, addr string, self bool)
}

// toSupervisor sends a state-changing request to the supervising server
// when this one only follows it, so clients need not know which of two
// overlapping servers they reached. The forwarded request carries the
// caller's token; the supervisor checks it against the same database.
func (a *API) toSupervisor(next http.Handler) http.Handler {
	h, ok := a.opts.Backend.(holder)
	if !ok {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, addr, self := h.Holder()
		if self || addr == "" {
			next.ServeHTTP(w, r)
			return
		}
		if r.Header.Get(forwardedHeader) != "" {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "supervision is moving between servers; retry in a moment")
			return
		}
		target := &url.URL{Scheme: "http", Host: addr}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Host = pr.In.Host
				pr.Out.Header.Set(forwardedHeader, a.opts.Health.ServerID)
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				a.log.Warn("forward to supervising server failed", "server", id, "addr", addr, "err", err)
				w.Header().Set("Retry-After", "1")
				writeError(w, http.StatusServiceUnavailable, "the supervising server "+addr+" did not answer; retry in a moment")
			},
		}
		proxy.ServeHTTP(w, r)
	})
}
