// Package loadgen sends constant HTTP load at a ten server and counts every
// failed request, for the tests and benchmarks whose claim is "no request
// fails while the server is replaced".
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options describe the load.
type Options struct {
	// URLs are tried in order for each request: a client that fails over
	// from the old server's port to the new one's lists both. A request
	// fails only when every URL failed.
	URLs []string
	// Host is sent as the Host header (the tenant's subdomain).
	Host string
	// Workers is the number of concurrent clients; half keep connections
	// alive, half open a fresh connection per request. Default 4.
	Workers int
	// Interval is each worker's pause between requests; 0 sends back to back.
	Interval time.Duration
	// Timeout bounds one request. Default 10s.
	Timeout time.Duration
	// Check, if set, judges a 200 response body; an error fails the request.
	Check func(body []byte) error
	// Sent, if set, counts finished requests as they happen, so a caller
	// can wait until load is flowing before it changes anything.
	Sent *atomic.Int64
}

// Sample is one request's outcome.
type Sample struct {
	At      time.Time
	Latency time.Duration
	Err     string // "" when the request succeeded
	// Kind classifies a failure: refused, reset, timeout, 5xx, ... (set by
	// the open loop, RunOpen; the closed loop counts kinds in ByKind only).
	Kind string
	// KeepAlive: the request went over the pool of kept-alive connections
	// (RunOpen) rather than a fresh connection.
	KeepAlive bool
}

// Result summarises a run.
type Result struct {
	Sent, Failed int
	ByKind       map[string]int // failures by kind: refused, reset, timeout, status 5xx, ...
	Samples      []Sample
	FirstErrors  []string // up to 5 messages, for test output
}

func (r *Result) String() string {
	return fmt.Sprintf("%d/%d requests failed %v %v", r.Failed, r.Sent, r.ByKind, r.FirstErrors)
}

// Percentile returns the p-th percentile (0-100) of successful latencies.
func (r *Result) Percentile(p float64) time.Duration {
	var ok []time.Duration
	for _, s := range r.Samples {
		if s.Err == "" {
			ok = append(ok, s.Latency)
		}
	}
	if len(ok) == 0 {
		return 0
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i] < ok[j] })
	i := int(float64(len(ok)-1) * p / 100)
	return ok[i]
}

// Run sends load until ctx is done and returns what happened.
func Run(ctx context.Context, o Options) *Result {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	res := &Result{ByKind: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < o.Workers; w++ {
		tr := &http.Transport{Proxy: nil, DisableKeepAlives: w%2 == 1, MaxIdleConnsPerHost: 4}
		client := &http.Client{Transport: tr, Timeout: o.Timeout}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer tr.CloseIdleConnections()
			for ctx.Err() == nil {
				start := time.Now()
				err := once(ctx, client, o)
				if ctx.Err() != nil && err != nil {
					return // the run ended mid-request; not the server's fault
				}
				s := Sample{At: start, Latency: time.Since(start)}
				if o.Sent != nil {
					o.Sent.Add(1)
				}
				mu.Lock()
				res.add(s, err)
				mu.Unlock()
				if o.Interval > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(o.Interval):
					}
				}
			}
		}()
	}
	wg.Wait()
	return res.sorted()
}

// sorted orders the samples by the time they started (or were due).
func (r *Result) sorted() *Result {
	sort.Slice(r.Samples, func(i, j int) bool { return r.Samples[i].At.Before(r.Samples[j].At) })
	return r
}

// Start runs the load in the background; stop ends it and returns the result.
func Start(ctx context.Context, o Options) (stop func() *Result) {
	return background(ctx, func(ctx context.Context) *Result { return Run(ctx, o) })
}

// background runs run until stop cancels its context, and stop returns
// its result.
func background(ctx context.Context, run func(context.Context) *Result) (stop func() *Result) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan *Result, 1)
	go func() { done <- run(ctx) }()
	return func() *Result {
		cancel()
		return <-done
	}
}

func once(ctx context.Context, client *http.Client, o Options) error {
	var errs []error
	for i, u := range o.URLs {
		reused, err := get(ctx, client, u, o)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		// Fail over the way nginx's proxy_next_upstream does for a GET: when
		// the connection never got through (refused), or a fresh connection
		// was reset before any answer (it sat in the listen queue of a
		// server that closed its socket). Anything else reached a server
		// and is a real failure, and so is any error on the last URL.
		if i == len(o.URLs)-1 || !(dialFailed(err) || (!reused && isReset(err))) {
			break
		}
	}
	return errors.Join(errs...)
}

func get(ctx context.Context, client *http.Client, url string, o Options) (reused bool, err error) {
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	ctx = httptrace.WithClientTrace(ctx, trace)
	return reused, fetch(ctx, client, url, o)
}

func fetch(ctx context.Context, client *http.Client, url string, o Options) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	if o.Host != "" {
		req.Host = o.Host
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if o.Check != nil {
		return o.Check(body)
	}
	return nil
}

func dialFailed(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func kind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case isReset(err):
		return "reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.HasPrefix(err.Error(), "status 5"):
		return "5xx"
	case strings.HasPrefix(err.Error(), "status "):
		return "other status"
	default:
		return "other"
	}
}

// add records one request's sample and its error, if any.
func (res *Result) add(s Sample, err error) {
	res.Sent++
	if err != nil {
		s.Err = err.Error()
		s.Kind = kind(err)
		res.Failed++
		res.ByKind[s.Kind]++
		if len(res.FirstErrors) < 5 {
			res.FirstErrors = append(res.FirstErrors, s.Err)
		}
	}
	res.Samples = append(res.Samples, s)
}
