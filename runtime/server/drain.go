package server

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Closing a keep-alive connection races with a client sending its next
// request on it, which then fails. So a draining server closes no
// connection at first: it answers every request with "Connection:
// close", which moves a busy client to the new server after its current
// request, and closes a connection only once it has been idle for
// keepAliveQuiet, well before a client that keeps sending would send
// again on it (unused pooled connections, mostly). What is still open
// after keepAliveGrace is closed by http.Server.Shutdown.
const (
	keepAliveQuiet = 100 * time.Millisecond
	keepAliveGrace = time.Second
)

// stopAccepting begins a drain: no new connection, and "Connection:
// close" on every answer. (Not SetKeepAlivesEnabled(false): it also
// closes the idle connections at once, the very race.) The returned func
// stops what wakes a blocked Accept.
func (s *server) stopAccepting() (stopWaking func()) {
	stopMain := wakeAccept(s.ln.Addr())
	stopTLS := s.tls.stopAccepting()
	s.conns.closing.Store(true)
	s.ln.Close()
	return func() { stopMain(); stopTLS() }
}

// clientConns tracks the server's client connections through its
// ConnState hook: for each, since when it has been idle (zero: busy).
type clientConns struct {
	mu      sync.Mutex
	idle    map[net.Conn]time.Time
	closing atomic.Bool
}

func newClientConns() *clientConns { return &clientConns{idle: map[net.Conn]time.Time{}} }

// closeWhenDraining wraps the server's handler: once the server drains,
// each answer closes its connection.
func (c *clientConns) closeWhenDraining(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.closing.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

func (c *clientConns) track(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st {
	case http.StateNew, http.StateIdle:
		// A new connection counts as idle from its accept: a client
		// sends its first request at once, or never (a preconnect).
		c.idle[conn] = time.Now()
	case http.StateActive:
		c.idle[conn] = time.Time{}
	case http.StateClosed, http.StateHijacked:
		delete(c.idle, conn)
	}
}

func (c *clientConns) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

// settle waits until every connection is closed, closing each one idle
// for quiet, or until grace has passed.
func (c *clientConns) settle(quiet, grace time.Duration) {
	deadline := time.Now().Add(grace)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for c.closeQuiet(quiet) > 0 && time.Now().Before(deadline) {
		<-tick.C
	}
}

// closeQuiet closes the connections idle for at least quiet and returns
// how many are open.
func (c *clientConns) closeQuiet(quiet time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for conn, since := range c.idle {
		if !since.IsZero() && now.Sub(since) >= quiet {
			conn.Close()
			delete(c.idle, conn)
		}
	}
	return len(c.idle)
}
