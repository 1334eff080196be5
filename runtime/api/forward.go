package api

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// forwardedHeader lists the servers that passed a request on, so that a
// request cannot go round forever while the lease moves between servers
// that each think another one supervises.
const forwardedHeader = "X-Ten-Forwarded-By"

// A server that receives a forwarded mutation without supervising waits
// up to settleWait for the lease to reach it (a hand-over takes
// milliseconds) before passing the request on again; after maxForwards
// servers the client is asked to retry.
const (
	settleWait  = 200 * time.Millisecond
	maxForwards = 3
)

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
		var via []string
		if v := r.Header.Get(forwardedHeader); v != "" {
			via = strings.Split(v, ", ")
		}
		id, addr, self := h.Holder()
		if !self && len(via) > 0 {
			// Another server took this one for the supervisor: the
			// lease is on its way here, or the request came back to a
			// server that has just handed it over.
			id, addr, self = settle(r.Context(), h)
		}
		if self || addr == "" {
			next.ServeHTTP(w, r)
			return
		}
		if len(via) >= maxForwards {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "supervision is moving between servers; retry in a moment")
			return
		}
		target := &url.URL{Scheme: "http", Host: addr}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Host = pr.In.Host
				pr.Out.Header.Set(forwardedHeader, strings.Join(append(via, a.opts.Health.ServerID), ", "))
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

// settle waits up to settleWait for this server to supervise and returns
// the holder as it is then.
func settle(ctx context.Context, h holder) (id, addr string, self bool) {
	deadline := time.Now().Add(settleWait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		id, addr, self = h.Holder()
		if self || !time.Now().Before(deadline) {
			return id, addr, self
		}
		select {
		case <-ctx.Done():
			return id, addr, self
		case <-tick.C:
		}
	}
}
