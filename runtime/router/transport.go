package router

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenement/ten/runtime/supervisor"
)

// NewTransport returns the pooled transport the router dials tenants with.
// Tenants are on loopback, so connections are cheap to keep: many idle
// ones per instance avoid a handshake per request under load.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil, // never send tenant traffic through $HTTP_PROXY
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		// The client's Accept-Encoding goes through as it is; the
		// transport must not add gzip on its own and then decompress.
		DisableCompression:    true,
		ExpectContinueTimeout: 1 * time.Second,
	}
}

// errTimeout is returned when a request's Options.Timeout expires before
// the tenant answered.
var errTimeout = errors.New("router: timed out waiting for the tenant")

// acquirer is the RoundTripper behind the ReverseProxy. It resolves the
// request's target through the Backend, dials it, and retries when the
// instance vanished between being acquired and being dialled (it crashed or
// was restarted): the backend then waits for the respawn, so the client
// sees a late answer instead of a 502.
type acquirer struct {
	backend Backend
	base    http.RoundTripper
	timeout func(service string) time.Duration
}

// Retry backoff between attempts; Acquire itself blocks while an instance
// is starting, so these only pace the case where the backend has not yet
// noticed the crash and hands out the dead address again.
const (
	retryMin = 5 * time.Millisecond
	retryMax = 250 * time.Millisecond
)

func (a *acquirer) RoundTrip(req *http.Request) (*http.Response, error) {
	st, _ := req.Context().Value(stateKey{}).(*reqState)
	if st == nil {
		return nil, errors.New("router: request did not come through Router.Proxy")
	}
	ctx, cancel := context.WithCancel(req.Context())
	var timedOut atomic.Bool
	timer := time.AfterFunc(a.timeout(st.target.Service), func() {
		timedOut.Store(true)
		cancel()
	})
	body := newReplayGuard(req.Body)
	fail := func(err error) (*http.Response, error) {
		timer.Stop()
		cancel()
		body.closeUnderlying()
		if timedOut.Load() {
			return nil, errTimeout
		}
		return nil, err
	}

	wait := retryMin
	for {
		id, addr, release, err := a.acquire(ctx, st)
		var elsewhere *supervisor.WakeElsewhereError
		switch {
		case errors.As(err, &elsewhere):
			// Only the supervising server may start the instance: it
			// answers this request, and starts it to do so.
			addr, release = elsewhere.Addr, func() {}
		case err != nil:
			return fail(err)
		default:
			st.setChosen(id)
		}

		out := req.WithContext(ctx)
		u := *req.URL
		u.Host = addr
		out.URL = &u
		out.Body = body.attempt()
		if elsewhere != nil {
			out.Header = req.Header.Clone()
			out.Header.Set(hopsHeader, strconv.Itoa(st.hops+1))
		}

		resp, err := a.base.RoundTrip(out)
		if err == nil {
			// Headers are in: from here on the body may stream for as
			// long as it likes.
			timer.Stop()
			done := sync.OnceFunc(func() {
				release()
				cancel()
				body.closeUnderlying()
			})
			resp.Body = wrapBody(resp.Body, done)
			return resp, nil
		}
		release()
		if ctx.Err() != nil || !retryable(req, err, body) {
			return fail(err)
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, retryMax)
	}
}

// hopsHeader counts how many servers have passed a request on to the
// supervising server to have an instance started; after maxHops a server
// waits for the instance instead, so a request racing a lease that moves
// between two servers is not passed back and forth.
const (
	hopsHeader = "X-Ten-Wake-Hops"
	maxHops    = 2
)

func (a *acquirer) acquire(ctx context.Context, st *reqState) (id, addr string, release func(), err error) {
	if st.hops >= maxHops {
		ctx = supervisor.WaitForSupervisor(ctx)
	}
	t := st.target
	if t.Weighted() {
		return a.backend.AcquireService(ctx, t.Service)
	}
	addr, release, err = a.backend.Acquire(ctx, t.Service, t.ID)
	return t.ID, addr, release, err
}

// retryable reports whether a failed attempt may be sent again. A refused
// dial never reached the tenant, so any request may be retried; otherwise
// only an idempotent request whose body was not consumed.
func retryable(req *http.Request, err error, body *replayGuard) bool {
	if body.consumed() {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// replayGuard lets the same request body be offered to several attempts
// for as long as none of them has read from it. http.Transport closes the
// body of a failed request; the guard absorbs that so a retry can still
// send it, and closes the real body once the request is over.
type replayGuard struct {
	rc   io.ReadCloser // nil for a request without a body
	read atomic.Bool
	once sync.Once
}

func newReplayGuard(rc io.ReadCloser) *replayGuard {
	if rc == http.NoBody {
		rc = nil
	}
	return &replayGuard{rc: rc}
}

func (g *replayGuard) attempt() io.ReadCloser {
	if g.rc == nil {
		return http.NoBody
	}
	return guardedBody{g}
}

func (g *replayGuard) consumed() bool { return g.read.Load() }

func (g *replayGuard) closeUnderlying() {
	if g.rc != nil {
		g.once.Do(func() { g.rc.Close() })
	}
}

type guardedBody struct{ g *replayGuard }

func (b guardedBody) Read(p []byte) (int, error) {
	b.g.read.Store(true)
	return b.g.rc.Read(p)
}

func (guardedBody) Close() error { return nil }

// wrapBody runs done when the response body is closed. A 101 Switching
// Protocols body is the raw connection and must stay writable, or
// ReverseProxy cannot relay the upgraded stream.
func wrapBody(rc io.ReadCloser, done func()) io.ReadCloser {
	b := &releaseBody{ReadCloser: rc, done: done}
	if w, ok := rc.(io.ReadWriteCloser); ok {
		return &releaseRWC{releaseBody: b, Writer: w}
	}
	return b
}

type releaseBody struct {
	io.ReadCloser
	done func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}

// releaseRWC is a releaseBody that can also be written to.
type releaseRWC struct {
	*releaseBody
	io.Writer
}
