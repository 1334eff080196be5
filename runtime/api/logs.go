package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tenement/ten/runtime/logs"
)

// logFilter reads ?process&id&level&search&limit. A tenant token is held to
// its own instance id.
func (a *API) logFilter(w http.ResponseWriter, r *http.Request) (logs.Filter, bool) {
	q := r.URL.Query()
	f := logs.Filter{
		Service: q.Get("process"),
		ID:      q.Get("id"),
		Level:   q.Get("level"),
		Search:  q.Get("search"),
	}
	if f.Service == "" {
		f.Service = q.Get("service")
	}
	switch f.Level {
	case "", logs.Stdout, logs.Stderr:
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid level %q: want stdout or stderr", f.Level))
		return f, false
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid limit %q: want a non-negative integer", s))
			return f, false
		}
		f.Limit = n
	}
	who := identityOf(r)
	if !who.Admin() {
		if f.ID != "" && f.ID != who.Tenant {
			writeError(w, http.StatusForbidden, fmt.Sprintf("tenant token can only access instance '%s'", who.Tenant))
			return f, false
		}
		f.ID = who.Tenant
	}
	return f, true
}

// queryLogs answers the newest entries that match, oldest first, as
// tenement's log buffer did: the last N lines, in reading order.
func (a *API) queryLogs(w http.ResponseWriter, r *http.Request) {
	f, ok := a.logFilter(w, r)
	if !ok {
		return
	}
	es, err := logs.Query(r.Context(), a.opts.DB, f)
	if err != nil {
		if errors.Is(err, logs.ErrInvalidFilter) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		storeError(w, a.log, "query logs", r, err, "cannot query logs")
		return
	}
	slices.Reverse(es)
	out := make([]LogEntry, len(es))
	for i, e := range es {
		out[i] = NewLogEntry(e)
	}
	writeJSON(w, http.StatusOK, out)
}

// streamLogs sends matching entries as server-sent events ("data: {json}")
// as they are indexed, from the moment the request arrives, until the
// client goes away. A comment line is sent first, so the client knows the
// stream is live, and then whenever the stream has been idle for KeepAlive.
func (a *API) streamLogs(w http.ResponseWriter, r *http.Request) {
	f, ok := a.logFilter(w, r)
	if !ok {
		return
	}
	// Fix the starting point before answering, so that nothing logged
	// after the client saw the response headers can be missed.
	if err := a.opts.DB.QueryRowContext(r.Context(), "SELECT COALESCE(MAX(id), 0) FROM logs").Scan(&f.SinceID); err != nil {
		storeError(w, a.log, "stream logs", r, err, "cannot read logs")
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx in front must not buffer the stream
	w.WriteHeader(http.StatusOK)

	var mu sync.Mutex // serialises writes from the follower and the keep-alive
	write := func(s string) error {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprint(w, s); err != nil {
			return err
		}
		return rc.Flush()
	}
	if write(": connected\n\n") != nil {
		return
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if a.opts.Streams != nil {
		defer context.AfterFunc(a.opts.Streams, cancel)()
	}
	var last sync.Mutex
	lastWrite := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(a.opts.KeepAlive)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				last.Lock()
				idle := time.Since(lastWrite) >= a.opts.KeepAlive
				last.Unlock()
				if idle && write(": keep-alive\n\n") != nil {
					return
				}
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()

	err := logs.FollowEvery(ctx, a.opts.DB, f, a.opts.FollowInterval, func(e logs.Entry) error {
		b, err := json.Marshal(NewLogEntry(e))
		if err != nil {
			return err
		}
		last.Lock()
		lastWrite = time.Now()
		last.Unlock()
		return write("data: " + string(b) + "\n\n")
	})
	if err != nil && ctx.Err() == nil {
		a.log.Warn("stream logs", "err", err)
	}
}
