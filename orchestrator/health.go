package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// healthAnswer is ten's GET /health, as the contract between the two
// programs defines it (DESIGN.md): ten-upgrade reads it from whatever
// binary answers.
type healthAnswer struct {
	Status        string   `json:"status"`
	Version       string   `json:"version"`
	PID           int      `json:"pid"`
	SchemaVersion int      `json:"schema_version"`
	Nonce         string   `json:"nonce"`
	Capabilities  []string `json:"capabilities"`
	ServerID      string   `json:"server_id"`
}

// httpClient talks to ten servers on this machine: no proxy from the
// environment, a fresh connection per request (a server that is replaced
// must not be asked through a connection to its predecessor).
var httpClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	Timeout:   5 * time.Second,
}

func getHealth(ctx context.Context, baseURL string) (healthAnswer, error) {
	var h healthAnswer
	body, err := getCapped(ctx, httpClient, baseURL+"/health", 1<<20)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return h, fmt.Errorf("/health: not ten's answer: %.100q", body)
	}
	if h.Status != "ok" {
		return h, fmt.Errorf("/health: status %q", h.Status)
	}
	return h, nil
}

// getCapped GETs url with c and returns the body of a 200 answer, refusing
// one larger than max bytes.
func getCapped(ctx context.Context, c *http.Client, url string, max int64) ([]byte, error) {
	resp, err := get(ctx, c, url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readAllCapped(resp.Body, url, max)
}

// get GETs url with c and returns the answer if it is a 200; the caller
// closes its body.
func get(ctx context.Context, c *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp, nil
}

// readAllCapped reads r, named name in errors, refusing more than max
// bytes.
func readAllCapped(r io.Reader, name string, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, max)
	}
	return b, nil
}

// gate is a health gate: N consecutive healthy answers from the expected
// process within Timeout.
type gate struct {
	URL     string
	Version string
	PID     int    // 0: any
	Nonce   string // "": not checked (a handoff child inherits the old nonce)
	N       int
	Timeout time.Duration
	// Exited, when the process is our child, closes when it exits.
	Exited <-chan struct{}
	// Alive, when set, is asked between probes; false fails at once.
	Alive func() bool
}

var errNotHealthy = errors.New("the new server did not become healthy")

// gateEvery spaces a gate's probes: N answers span (N-1)*gateEvery, long
// enough to see a server that crashes right after its first answer, short
// enough not to dominate a handoff.
const gateEvery = 50 * time.Millisecond

// wait polls until the gate passes, the process exits or the time is up.
func (g gate) wait(ctx context.Context) (healthAnswer, error) {
	if g.N < 1 {
		g.N = 1
	}
	deadline := time.Now().Add(g.Timeout)
	ok := 0
	var last healthAnswer
	lastErr := errors.New("no answer yet")
	for {
		h, err := getHealth(ctx, g.URL)
		switch {
		case err != nil:
			ok, lastErr = 0, err
		case g.Nonce != "" && h.Nonce != g.Nonce:
			ok, lastErr = 0, fmt.Errorf("answered by another server (pid %d, version %s)", h.PID, h.Version)
		case g.PID != 0 && h.PID != g.PID:
			ok, lastErr = 0, fmt.Errorf("answered by pid %d, want %d", h.PID, g.PID)
		case g.Version != "" && h.Version != g.Version:
			ok, lastErr = 0, fmt.Errorf("answered with version %s, want %s", h.Version, g.Version)
		default:
			ok++
			last = h
			if ok >= g.N {
				return last, nil
			}
		}
		if g.Alive != nil && !g.Alive() {
			return last, fmt.Errorf("%w: the process exited (last: %v)", errNotHealthy, lastErr)
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("%w within %s: %d/%d healthy answers; last: %v", errNotHealthy, g.Timeout, ok, g.N, lastErr)
		}
		t := time.NewTimer(gateEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-g.Exited:
			t.Stop()
			return last, fmt.Errorf("%w: the process exited (last: %v)", errNotHealthy, lastErr)
		case <-t.C:
		}
	}
}

// serverMetrics is what the watch reads from /metrics.
type serverMetrics struct {
	Requests float64 // proxied requests, all statuses
	Errors   float64 // of which 5xx
	Restarts float64 // instance restarts
}

// getMetrics scrapes ten's /metrics (Prometheus text format).
func getMetrics(ctx context.Context, baseURL string) (serverMetrics, error) {
	var m serverMetrics
	resp, err := get(ctx, httpClient, baseURL+"/metrics")
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return m, fmt.Errorf("/metrics: %w", err)
	}
	if f := fams["tenement_requests_total"]; f != nil {
		for _, mt := range f.GetMetric() {
			v := mt.GetCounter().GetValue()
			m.Requests += v
			for _, l := range mt.GetLabel() {
				if l.GetName() == "status" && strings.HasPrefix(l.GetValue(), "5") {
					m.Errors += v
				}
			}
		}
	}
	if f := fams["tenement_instance_restarts_total"]; f != nil {
		for _, mt := range f.GetMetric() {
			m.Restarts += mt.GetCounter().GetValue()
		}
	}
	return m, nil
}
