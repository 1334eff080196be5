package loadgen

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// OpenOptions describe open-loop load: requests leave on a fixed schedule
// (Rate per second) whether or not the earlier ones were answered, so a
// server that stalls meets a queue of waiting requests, as it would in
// production, instead of a client that politely waits (the closed loop of
// Run). Latency is measured from the moment a request was due, not from
// when it was sent, so a stall shows in full (no coordinated omission).
type OpenOptions struct {
	// URLs are tried in order for each request, as in Options.
	URLs []string
	// Host is sent as the Host header.
	Host string
	// Rate is requests per second. Default 100.
	Rate float64
	// Requests alternate between a pool of keep-alive connections and a
	// fresh connection each. Every FreshEvery-th request opens a fresh
	// connection: 2 (the default) is half and half, 1 all fresh, a
	// negative value none.
	FreshEvery int
	// Timeout bounds one request. Default 5s.
	Timeout time.Duration
	// MaxInFlight bounds the requests outstanding at once; a request due
	// while that many are waiting fails with kind "client overload"
	// instead of being delayed. Default 5000.
	MaxInFlight int
	// Check, if set, judges a 200 response body.
	Check func(body []byte) error
	// Sent, if set, counts finished requests as they happen.
	Sent *atomic.Int64
}

// RunOpen sends open-loop load until ctx is done, waits for the requests
// still in flight (each bounded by Timeout), and returns every request's
// outcome. Samples' At is the time the request was due; their Latency
// runs from then to the end of the response body.
func RunOpen(ctx context.Context, o OpenOptions) *Result {
	if o.Rate <= 0 {
		o.Rate = 100
	}
	if o.FreshEvery == 0 {
		o.FreshEvery = 2
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 5000
	}
	keep := &http.Transport{Proxy: nil, MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	fresh := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer keep.CloseIdleConnections()
	clients := [2]*http.Client{
		{Transport: keep, Timeout: o.Timeout},
		{Transport: fresh, Timeout: o.Timeout},
	}
	co := Options{URLs: o.URLs, Host: o.Host, Check: o.Check}
	// Requests run to their end after ctx is done: stopping the load must
	// not fail the requests already sent.
	reqCtx := context.WithoutCancel(ctx)

	res := &Result{ByKind: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var inflight atomic.Int64
	record := func(s Sample, err error) {
		if o.Sent != nil {
			o.Sent.Add(1)
		}
		mu.Lock()
		defer mu.Unlock()
		res.add(s, err)
	}

	period := time.Duration(float64(time.Second) / o.Rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * period)
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			wg.Wait()
			return res.sorted()
		case <-timer.C:
		}
		isFresh := o.FreshEvery > 0 && i%o.FreshEvery == o.FreshEvery-1
		if inflight.Load() >= int64(o.MaxInFlight) {
			record(Sample{At: due, KeepAlive: !isFresh}, errOverload)
			continue
		}
		client := clients[0]
		if isFresh {
			client = clients[1]
		}
		inflight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inflight.Add(-1)
			err := once(reqCtx, client, co)
			record(Sample{At: due, Latency: time.Since(due), KeepAlive: !isFresh}, err)
		}()
	}
}

var errOverload = errors.New("client overload: too many requests in flight")

// StartOpen runs RunOpen in the background; stop ends the load, waits for
// the requests in flight and returns the result.
func StartOpen(ctx context.Context, o OpenOptions) (stop func() *Result) {
	return background(ctx, func(ctx context.Context) *Result { return RunOpen(ctx, o) })
}

// Window returns the requests of r that were due in [from, to), with
// their counts; its samples share r's.
func (r *Result) Window(from, to time.Time) *Result {
	w := &Result{ByKind: map[string]int{}}
	for _, s := range r.Samples {
		if s.At.Before(from) || !s.At.Before(to) {
			continue
		}
		w.Sent++
		if s.Err != "" {
			w.Failed++
			k := s.Kind
			if k == "" {
				k = "other"
			}
			w.ByKind[k]++
			if len(w.FirstErrors) < 5 {
				w.FirstErrors = append(w.FirstErrors, s.Err)
			}
		}
		w.Samples = append(w.Samples, s)
	}
	return w
}

// Max returns the largest latency of a successful request.
func (r *Result) Max() time.Duration {
	var m time.Duration
	for _, s := range r.Samples {
		if s.Err == "" && s.Latency > m {
			m = s.Latency
		}
	}
	return m
}
