package orchestrator

import (
	"context"
	"sync"
	"time"
)

// availabilityProbe is ten-upgrade's own measure of failed requests: while
// an upgrade runs it sends GET /health every 20ms, on a fresh connection,
// to where clients reach ten (the proxy's URL for the proxy strategy, the
// server's address otherwise), and counts the requests that get no
// healthy answer. The count is recorded in the journal (history's "failed
// requests").
type availabilityProbe struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	sent   int
	failed int
}

func startProbe(url string) *availabilityProbe {
	ctx, cancel := context.WithCancel(context.Background())
	p := &availabilityProbe{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := getHealth(rctx, url)
			rcancel()
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			p.sent++
			if err != nil {
				p.failed++
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// stop ends the probe and returns its counts.
func (p *availabilityProbe) stop() (sent, failed int) {
	if p == nil {
		return 0, 0
	}
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent, p.failed
}
