package api

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"
)

// DefaultMaxStreams is the number of log streams (GET /api/logs/stream)
// one token may hold open at once. Each stream polls the database until
// its client goes away, so an unbounded number would let one token (a
// tenant's, say) load the server without limit; a few per token cover a
// terminal per instance and a dashboard.
const DefaultMaxStreams = 8

// streamSlots counts open log streams per token.
type streamSlots struct {
	max  int
	mu   sync.Mutex
	open map[[sha256.Size]byte]int
}

func newStreamSlots(max int) *streamSlots {
	return &streamSlots{max: max, open: map[[sha256.Size]byte]int{}}
}

// acquire takes a slot for key; release must be called once it is done.
func (s *streamSlots) acquire(key [sha256.Size]byte) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[key] >= s.max {
		return nil, false
	}
	s.open[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.open[key]--; s.open[key] <= 0 {
				delete(s.open, key)
			}
		})
	}, true
}

type tokenKey struct{}

// withToken remembers which token authenticated the request (its SHA-256,
// not the token), for per-token limits.
func withToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, sha256.Sum256([]byte(token)))
}

func tokenOf(r *http.Request) [sha256.Size]byte {
	k, _ := r.Context().Value(tokenKey{}).([sha256.Size]byte)
	return k
}

// limitStreams answers 429 when the request's token already holds
// MaxStreams log streams.
func (a *API) limitStreams(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		release, ok := a.streams.acquire(tokenOf(r))
		if !ok {
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusTooManyRequests, fmt.Sprintf(
				"too many log streams: this token already has %d open; close one (e.g. another `ten logs -f`) and retry", a.opts.MaxStreams))
			return
		}
		defer release()
		next(w, r)
	}
}
