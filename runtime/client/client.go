// Package client is the HTTP client the ten CLI uses to talk to a running
// `ten serve` over its REST API.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/logs"
)

// Client calls one server.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client for the server at baseURL (e.g.
// http://127.0.0.1:8080) authenticating with token.
func New(baseURL, token string) *Client {
	return &Client{
		base:  strings.TrimRight(baseURL, "/"),
		token: token,
		// No overall timeout: deploy waits for health and logs -f streams;
		// callers bound requests with their context instead.
		http: &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
		}},
	}
}

// APIError is an error answered by the server.
type APIError struct {
	Status  int
	Message string // the server's {"error": ...}, or the status text
}

func (e *APIError) Error() string { return e.Message }

// ConnError means the server could not be reached.
type ConnError struct {
	URL string
	Err error
}

func (e *ConnError) Error() string {
	hint := ""
	if errors.Is(e.Err, syscall.ECONNREFUSED) {
		hint = " (is `ten serve` running? point --server or TENEMENT_SERVER at it)"
	}
	return fmt.Sprintf("cannot reach the ten server at %s: %v%s", e.URL, rootCause(e.Err), hint)
}

func (e *ConnError) Unwrap() error { return e.Err }

// rootCause strips url.Error and net.OpError wrappers, whose messages
// repeat the URL and the address.
func rootCause(err error) error {
	for {
		var ue *url.Error
		var oe *net.OpError
		switch {
		case errors.As(err, &ue) && ue.Err != err:
			err = ue.Err
		case errors.As(err, &oe) && oe.Err != nil && oe.Err != err:
			err = oe.Err
		default:
			return err
		}
	}
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: cannot read the server's answer: %w", method, path, err)
	}
	return nil
}

// send performs a request and turns non-2xx answers into *APIError.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("invalid server URL %q: %w", c.base, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ConnError{URL: c.base, Err: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readError(resp)
}

func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e api.Error
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		// A failed start quotes the tenant's stderr: printable only.
		return &APIError{Status: resp.StatusCode, Message: Printable(e.Error)}
	}
	msg := fmt.Sprintf("server returned %s", resp.Status)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		msg += ": check the token (--token, TENEMENT_TOKEN or {data_dir}/api_token)"
	case http.StatusTooManyRequests:
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			msg += "; retry in " + ra + "s"
		}
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}

func instancePath(name string) string {
	return "/api/instances/" + url.PathEscape(name)
}

// List returns every instance the token may see.
func (c *Client) List(ctx context.Context) ([]api.Instance, error) {
	var out []api.Instance
	err := c.do(ctx, http.MethodGet, "/api/instances", nil, &out)
	return out, err
}

// Spawn starts service:id.
func (c *Client) Spawn(ctx context.Context, service, id string) (api.SpawnResponse, error) {
	var out api.SpawnResponse
	err := c.do(ctx, http.MethodPost, "/api/instances/spawn", api.SpawnRequest{Process: service, ID: id}, &out)
	return out, err
}

// Stop stops the instance named "service:id".
func (c *Client) Stop(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, instancePath(name), nil, nil)
}

// Restart restarts the instance named "service:id".
func (c *Client) Restart(ctx context.Context, name string) (api.SpawnResponse, error) {
	var out api.SpawnResponse
	err := c.do(ctx, http.MethodPost, instancePath(name)+"/restart", nil, &out)
	return out, err
}

// SetWeight sets the routing weight of "service:id".
func (c *Client) SetWeight(ctx context.Context, name string, weight int) (api.WeightResponse, error) {
	var out api.WeightResponse
	err := c.do(ctx, http.MethodPut, instancePath(name)+"/weight", api.WeightRequest{Weight: &weight}, &out)
	return out, err
}

// Health checks "service:id" now.
func (c *Client) Health(ctx context.Context, name string) (api.HealthResponse, error) {
	var out api.HealthResponse
	err := c.do(ctx, http.MethodGet, instancePath(name)+"/health", nil, &out)
	return out, err
}

// Deploy spawns process:version, waits for it to be healthy and sets its
// weight.
func (c *Client) Deploy(ctx context.Context, req api.DeployRequest) (api.DeployResponse, error) {
	var out api.DeployResponse
	err := c.do(ctx, http.MethodPost, "/api/deploy", req, &out)
	return out, err
}

// Route moves all of process's traffic from one version to another.
func (c *Client) Route(ctx context.Context, process, from, to string) (api.RouteResponse, error) {
	var out api.RouteResponse
	err := c.do(ctx, http.MethodPost, "/api/route", api.RouteRequest{Process: process, From: from, To: to}, &out)
	return out, err
}

// ServerHealth reads GET /health (no token needed).
func (c *Client) ServerHealth(ctx context.Context) (api.Health, error) {
	var out api.Health
	err := c.do(ctx, http.MethodGet, "/health", nil, &out)
	return out, err
}

// LogQuery selects log lines.
type LogQuery struct {
	Service string
	ID      string
	Level   string // stdout or stderr
	Search  string
	Limit   int
}

func (q LogQuery) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("process", q.Service)
	set("id", q.ID)
	set("level", q.Level)
	set("search", q.Search)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

func (q LogQuery) path(base string) string {
	if v := q.values().Encode(); v != "" {
		return base + "?" + v
	}
	return base
}

// Logs returns matching log lines, oldest first.
func (c *Client) Logs(ctx context.Context, q LogQuery) ([]logs.Entry, error) {
	var got []api.LogEntry
	if err := c.do(ctx, http.MethodGet, q.path("/api/logs"), nil, &got); err != nil {
		return nil, err
	}
	out := make([]logs.Entry, len(got))
	for i, e := range got {
		out[i] = e.Entry()
	}
	return out, nil
}

// LogRange returns the time range the lines selected by q cover (its
// Search and Limit do not apply) and the server's retention policy.
func (c *Client) LogRange(ctx context.Context, q LogQuery) (logs.Span, error) {
	q.Search, q.Limit = "", 0
	var out logs.Span
	err := c.do(ctx, http.MethodGet, q.path("/api/logs/range"), nil, &out)
	return out, err
}
