package api

import (
	"bytes"
	"context"
	"io"
	"maps"
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

// movedHeader marks, between the handler and toSupervisor, an answer that
// refused a mutation because supervision moved away meanwhile; it never
// reaches the client.
const movedHeader = "X-Ten-Supervision-Moved"

// toSupervisor sends a state-changing request to the supervising server
// when this one only follows it, so clients need not know which of two
// overlapping servers they reached. The forwarded request carries the
// caller's token; the supervisor checks it against the same database.
//
// The lease can move between the look at it and the mutation (a hand-over
// takes milliseconds, but a request can arrive in them). The backend then
// refuses without changing anything, so the request is held, and sent on
// to the new holder instead of failing.
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
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeError(w, http.StatusBadRequest, "read request body: "+err.Error()+" (send a JSON body of at most 1 MiB)")
			return
		}
		id, addr, self := h.Holder()
		if !self && len(via) > 0 {
			// Another server took this one for the supervisor: the
			// lease is on its way here, or the request came back to a
			// server that has just handed it over.
			id, addr, self = settle(r.Context(), h, func(_ string, self bool) bool { return self })
		}
		if self || addr == "" {
			held := &heldResponse{header: http.Header{}}
			next.ServeHTTP(held, withBody(r, body))
			if held.header.Get(movedHeader) == "" || len(via) >= maxForwards {
				held.send(w)
				return
			}
			me := a.opts.Health.ServerID
			id, addr, self = settle(r.Context(), h, func(id string, self bool) bool { return self || id != me })
			if self {
				next.ServeHTTP(w, withBody(r, body)) // the hand-over was undone
				return
			}
			if addr == "" {
				held.send(w)
				return
			}
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
		proxy.ServeHTTP(w, withBody(r, body))
	})
}

// withBody is r with a fresh reader of body, which toSupervisor read once.
func withBody(r *http.Request, body []byte) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	return r2
}

// heldResponse keeps a handler's answer until toSupervisor knows it is not
// a refusal to pass on; the mutations' answers are a few lines of JSON.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return h.body.Write(b)
}

// send writes the held answer to w, without the internal marker.
func (h *heldResponse) send(w http.ResponseWriter) {
	h.header.Del(movedHeader)
	maps.Copy(w.Header(), h.header)
	h.WriteHeader(http.StatusOK)
	w.WriteHeader(h.status)
	w.Write(h.body.Bytes())
}

// settle waits up to settleWait for done to hold of the lease holder and
// returns the holder as it is then.
func settle(ctx context.Context, h holder, done func(id string, self bool) bool) (id, addr string, self bool) {
	deadline := time.Now().Add(settleWait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		id, addr, self = h.Holder()
		if done(id, self) || !time.Now().Before(deadline) {
			return id, addr, self
		}
		select {
		case <-ctx.Done():
			return id, addr, self
		case <-tick.C:
		}
	}
}
