package site

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Instance is the part of GET /api/instances a site reads.
type Instance struct {
	ID    string `json:"id"`
	PID   int    `json:"pid"`
	State string `json:"state"`
}

// Health is the part of GET /health a site reads.
type Health struct {
	Version string `json:"version"`
	PID     int    `json:"pid"`
}

// apiClient opens a connection per request, so that every request meets
// whichever server listens at that moment.
var apiClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 5 * time.Second}

// Instances asks url (the server, or a proxy in front of it) for the
// tenants, by id.
func (s *Site) Instances(ctx context.Context, url string) (map[string]Instance, error) {
	var list []Instance
	if err := s.call(ctx, "GET", url+"/api/instances", &list); err != nil {
		return nil, err
	}
	m := map[string]Instance{}
	for _, in := range list {
		m[in.ID] = in
	}
	return m, nil
}

// call sends an authorised API request and decodes a 200 answer into v
// (if not nil).
func (s *Site) call(ctx context.Context, method, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	if s != nil {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s %s: %s", method, req.URL.Path, resp.Status)
	}
	if v == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	return nil
}

// WaitTenants waits until every tenant of the site runs (asking url) and
// returns their pids.
func (s *Site) WaitTenants(ctx context.Context, url string, timeout time.Duration) (map[string]int, error) {
	var pids map[string]int
	err := Poll(ctx, timeout, func() error {
		m, err := s.Instances(ctx, url)
		if err != nil {
			return err
		}
		pids = map[string]int{}
		for _, id := range s.cfg.Tenants {
			if m[id].State != "running" || m[id].PID <= 0 {
				return fmt.Errorf("tenants: %v", m)
			}
			pids[id] = m[id].PID
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the tenants did not run on %s: %w (log %s)", url, err, s.Log)
	}
	return pids, nil
}

// retryFailedTenants restarts, through the API, a tenant whose first start
// failed (a port taken by another connection in that instant): the set-up
// is not what a test or the benchmark measures.
func (s *Site) retryFailedTenants(ctx context.Context) {
	_ = Poll(ctx, 10*time.Second, func() error { //nolint:errcheck // WaitTenants reports what still fails
		m, err := s.Instances(ctx, s.URL)
		if err != nil {
			return err
		}
		running := 0
		for _, id := range s.cfg.Tenants {
			switch m[id].State {
			case "running":
				running++
			case "failed", "stopped", "idle":
				if s.call(ctx, "POST", s.URL+"/api/instances/"+id+"/restart", nil) == nil && s.cfg.Logf != nil {
					s.cfg.Logf("tenant %s was %s after start; restarted it", id, m[id].State)
				}
			}
		}
		if running < len(s.cfg.Tenants) {
			return fmt.Errorf("%d of %d tenants run", running, len(s.cfg.Tenants))
		}
		return nil
	})
}

// GetHealth asks url's /health.
func GetHealth(ctx context.Context, url string) (Health, error) {
	var h Health
	err := (*Site)(nil).call(ctx, "GET", url+"/health", &h)
	return h, err
}

// WaitHealth waits until url answers as ten version ("" for any).
func WaitHealth(ctx context.Context, url, version string, timeout time.Duration) (Health, error) {
	var h Health
	err := Poll(ctx, timeout, func() error {
		var err error
		if h, err = GetHealth(ctx, url); err == nil && version != "" && h.Version != version {
			err = fmt.Errorf("answers as ten %s", h.Version)
		}
		return err
	})
	if err != nil {
		return h, fmt.Errorf("%s did not answer as ten %q: %w", url, version, err)
	}
	return h, nil
}

// Poll calls cond every 20ms until it returns nil, the timeout passes or
// ctx ends; the error then says what cond last reported.
func Poll(ctx context.Context, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}
