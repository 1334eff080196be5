// Package testclock is a clock that tests move by hand, for code that
// takes its time from a Now func: idle timeouts, lease heartbeats, rate
// windows and timestamps can then be tested without waiting for them.
package testclock

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use: the code under test reads it from its
// own goroutines while the test advances it.
type Clock struct {
	mu      sync.Mutex
	t       time.Time // Stopped: the time; Running: unused
	off     time.Duration
	running bool
}

// Stopped returns a clock that shows t until it is advanced.
func Stopped(t time.Time) *Clock { return &Clock{t: t} }

// Running returns the real clock moved by what Advance adds: code on it
// keeps seeing time pass (a heartbeat keeps beating), and a test can
// still jump it forward.
func Running() *Clock { return &Clock{running: true} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return time.Now().Add(c.off)
	}
	return c.t.Add(c.off)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}
