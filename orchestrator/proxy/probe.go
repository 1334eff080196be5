package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultProbeTimeout bounds Probe when its context has no deadline.
const DefaultProbeTimeout = 30 * time.Second

// health is the part of ten's GET /health answer Probe looks at.
type health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	PID     int    `json:"pid"`
	Nonce   string `json:"nonce"`
}

// Probe asks ten's /health through the proxy (GET {proxyURL}/health with
// the Host header set to host, on a fresh connection each time) until the
// answer carries wantNonce, the TEN_HEALTH_NONCE of the server the caller
// started: then traffic through the proxy reaches that server. It retries
// until ctx ends (DefaultProbeTimeout when ctx has no deadline) and then
// says what answered instead. A nil client means a default one.
func Probe(ctx context.Context, client *http.Client, proxyURL, host, wantNonce string) error {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultProbeTimeout)
		defer cancel()
	}
	url := strings.TrimRight(proxyURL, "/") + "/health"
	wait := 20 * time.Millisecond
	last := "no answer yet"
	for attempt := 1; ; attempt++ {
		h, err := probeOnce(ctx, client, url, host)
		switch {
		case err != nil:
			last = err.Error()
		case h.Nonce == wantNonce:
			return nil
		default:
			last = fmt.Sprintf("answered by another server (nonce %q, version %q, pid %d)", h.Nonce, h.Version, h.PID)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("probe %s with Host %q: the server with nonce %q did not answer through the proxy (%d attempts; last: %s); the proxy does not route to it yet",
				url, host, wantNonce, attempt, last)
		case <-t.C:
		}
		wait = min(wait*2, 250*time.Millisecond)
	}
}

func probeOnce(ctx context.Context, client *http.Client, url, host string) (health, error) {
	var h health
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return h, err
	}
	if host != "" {
		req.Host = host
	}
	req.Close = true
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return h, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("status %s: %s", resp.Status, snippet(body))
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return h, fmt.Errorf("the answer is not ten's /health JSON: %s", snippet(body))
	}
	return h, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
