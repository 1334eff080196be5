package api

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// openStream opens a log stream and waits for its first line, so that the
// server has taken its slot.
func (f *fixture) openStream(t *testing.T, token string) (*http.Response, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/logs/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		if line, _ := bufio.NewReader(resp.Body).ReadString('\n'); line != ": connected\n" {
			t.Fatalf("hello %q", line)
		}
	}
	return resp, func() { cancel(); resp.Body.Close() }
}

// Issue 13 defect 15: log streams are capped per token; one more is 429,
// documented in docs/api.md; another token is not affected, and a slot is
// free again once a stream ends.
func TestLogStreamsAreCappedPerToken(t *testing.T) {
	f := newFixtureWith(t, func(o *Options) { o.MaxStreams = 2 })
	_, close1 := f.openStream(t, f.admin)
	_, close2 := f.openStream(t, f.admin)
	defer close2()
	resp, close3 := f.openStream(t, f.admin)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third stream: %d Retry-After=%q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close3()

	bob, err := NewTokens(f.db, nil).Issue(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	resp, closeBob := f.openStream(t, bob)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("another token's stream: %d, want 200", resp.StatusCode)
	}
	closeBob()

	close1()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, closeN := f.openStream(t, f.admin)
		code := resp.StatusCode
		closeN()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed after a stream ended: %d", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A request its client cancelled is not a server error: the supervisor's
// context.Canceled maps to 499 and is logged, not a 500.
func TestCancelledRequestIsNotA500(t *testing.T) {
	f := newFixture(t)
	rec := &statusRecorder{}
	a := New(Options{Backend: f.sup, DB: f.db})
	a.backendError(rec, "spawn", "api:x", context.Canceled)
	if rec.status != StatusClientClosedRequest {
		t.Errorf("status %d, want %d", rec.status, StatusClientClosedRequest)
	}
}

type statusRecorder struct {
	h      http.Header
	status int
}

func (r *statusRecorder) Header() http.Header {
	if r.h == nil {
		r.h = http.Header{}
	}
	return r.h
}
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(code int)        { r.status = code }

// A log query whose client has gone away is a 499, not a 500.
func TestCancelledLogQueryIsNotA500(t *testing.T) {
	f := newFixture(t)
	a := New(Options{Backend: f.sup, DB: f.db})
	admin, err := a.Tokens().Issue(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/logs", "/api/logs/stream"} {
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequest("GET", path, nil).WithContext(ctx)
		req.Header.Set("Authorization", "Bearer "+admin)
		cancel()
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		if rec.Code != StatusClientClosedRequest {
			t.Errorf("%s cancelled: %d %s, want %d", path, rec.Code, rec.Body, StatusClientClosedRequest)
		}
	}
}
