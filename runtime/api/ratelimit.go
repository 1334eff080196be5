package api

import (
	"sync"
	"time"
)

// Limiter counts failed authentications per key in a sliding window. The
// key is the client address and the token's prefix (limitKey), so that a
// flood of wrong tokens locks out its own (client, prefix) only: never a
// valid token (authenticate checks it anyway), and, with trusted_proxies,
// never another client behind the same reverse proxy. Once a key has failed
// Max times within Window, its failures answer 429 until the oldest failure
// ages out.
type Limiter struct {
	Max    int
	Window time.Duration
	Now    func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

// Defaults for NewLimiter.
const (
	DefaultAuthFailures = 10
	DefaultAuthWindow   = time.Minute
)

// NewLimiter returns a limiter allowing max failures per window.
func NewLimiter(max int, window time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{Max: max, Window: window, Now: now, failures: map[string][]time.Time{}}
}

// Blocked reports whether client is locked out, and for how long.
func (l *Limiter) Blocked(client string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	fs := l.prune(client, now)
	if len(fs) < l.Max {
		return false, 0
	}
	return true, fs[0].Add(l.Window).Sub(now)
}

// Fail records a failed authentication by client.
func (l *Limiter) Fail(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	l.failures[client] = append(l.prune(client, now), now)
	// Bound memory under a spray from many addresses or prefixes: drop
	// what has aged out, then, if still too many, arbitrary keys. A key
	// dropped early only forgets failures that cost little (a token whose
	// prefix matches no stored token is refused without Argon2).
	if len(l.failures) > maxLimiterKeys {
		for c := range l.failures {
			l.prune(c, now)
		}
		for c := range l.failures {
			if len(l.failures) <= maxLimiterKeys {
				break
			}
			delete(l.failures, c)
		}
	}
}

// maxLimiterKeys bounds the keys a Limiter remembers.
const maxLimiterKeys = 10000

// limitKey is the Limiter key of a request from client bearing token: the
// client and the token's first 8 characters, the length of tenement's
// token_prefix (tenement/src/store.rs tenant_tokens), so that wrong
// guesses at one token do not count against the others.
func limitKey(client, token string) string {
	const prefixLen = 8
	if len(token) > prefixLen {
		token = token[:prefixLen]
	}
	return client + " " + token
}

// prune drops failures older than the window; l.mu is held.
func (l *Limiter) prune(client string, now time.Time) []time.Time {
	fs := l.failures[client]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= l.Window {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(l.failures, client)
		return nil
	}
	l.failures[client] = fs
	return fs
}
