package api

import (
	"sync"
	"time"
)

// Limiter counts failed authentications per client address in a sliding
// window. Once a client has failed Max times within Window, every request
// it makes with credentials is refused until the oldest failure ages out;
// refusing even a correct token then is what stops a guesser from learning
// that a guess was right.
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
	// Bound memory under a spray from many addresses.
	if len(l.failures) > 10000 {
		for c := range l.failures {
			l.prune(c, now)
		}
	}
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
