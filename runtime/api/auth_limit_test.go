package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/router"
)

func (f *fixture) callFrom(t *testing.T, xff, token string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/instances", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// Issue 13 defect 3: 50 bad tokens from 127.0.0.1, then the valid admin
// token, answered 429. tenement's own limiter (cli/src/server.rs
// auth_middleware: one global failure count, 429 before any token check)
// had the same hole; a valid token is now always accepted.
func TestAuthLimiterNeverRefusesAValidToken(t *testing.T) {
	f := newFixture(t)
	sameprefix := f.admin[:8] + "-wrong-guess"
	for range 25 {
		f.callFrom(t, "", "wrong-token")
		f.callFrom(t, "", sameprefix)
	}
	if code, _ := f.callFrom(t, "", f.admin); code != 200 {
		t.Fatalf("valid admin token after 50 failures: %d, want 200", code)
	}
	code, hdr := f.callFrom(t, "", sameprefix)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "60" {
		t.Errorf("locked-out wrong token: %d Retry-After=%q, want 429 and 60", code, hdr.Get("Retry-After"))
	}
	// /health is never limited.
	if code, _, _ := f.call(t, "", "GET", "/health", ""); code != 200 {
		t.Errorf("health limited: %d", code)
	}
}

// Failures count per (client, token prefix): wrong guesses at one token
// prefix do not lock out the others, and they age out.
func TestAuthFailuresLimitedPerTokenPrefix(t *testing.T) {
	f := newFixture(t)
	for i := range 3 {
		if code, _ := f.callFrom(t, "", "aaaaaaaa-1"); code != 401 {
			t.Fatalf("attempt %d: %d, want 401", i, code)
		}
	}
	if code, _ := f.callFrom(t, "", "aaaaaaaa-2"); code != 429 {
		t.Errorf("4th failure with the same prefix: %d, want 429", code)
	}
	if code, _ := f.callFrom(t, "", "bbbbbbbb-1"); code != 401 {
		t.Errorf("another prefix from the same client: %d, want 401", code)
	}
	f.clock.Advance(61 * time.Second)
	if code, _ := f.callFrom(t, "", "aaaaaaaa-3"); code != 401 {
		t.Errorf("after the window: %d, want 401", code)
	}
}

// With trusted_proxies, failures count per X-Forwarded-For client, so one
// client behind Caddy or nginx cannot lock out another; without it the
// header is the client's to forge and is ignored.
func TestAuthFailuresPerForwardedClientBehindTrustedProxy(t *testing.T) {
	trusted, err := router.ParseTrustedProxies([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, func(o *Options) { o.TrustedProxies = trusted })
	for range 3 {
		f.callFrom(t, "203.0.113.1", "cccccccc-x")
	}
	if code, _ := f.callFrom(t, "203.0.113.1", "cccccccc-y"); code != 429 {
		t.Errorf("locked client: %d, want 429", code)
	}
	if code, _ := f.callFrom(t, "203.0.113.2", "cccccccc-y"); code != 401 {
		t.Errorf("another client behind the proxy: %d, want 401", code)
	}

	untrusting := newFixture(t)
	for range 3 {
		untrusting.callFrom(t, "203.0.113.1", "dddddddd-x")
	}
	if code, _ := untrusting.callFrom(t, "203.0.113.99", "dddddddd-y"); code != 429 {
		t.Errorf("forged X-Forwarded-For without trusted_proxies: %d, want 429 (the peer is what counts)", code)
	}
}

func TestClientAddr(t *testing.T) {
	trusted, err := router.ParseTrustedProxies([]string{"127.0.0.1", "10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		peer string
		xff  []string
		want string
	}{
		{"192.0.2.7:5000", []string{"203.0.113.1"}, "192.0.2.7"},                           // untrusted peer: header ignored
		{"127.0.0.1:5000", nil, "127.0.0.1"},                                               // trusted peer, no header
		{"127.0.0.1:5000", []string{"203.0.113.1"}, "203.0.113.1"},                         // one proxy
		{"127.0.0.1:5000", []string{"198.51.100.1, 203.0.113.1, 10.1.2.3"}, "203.0.113.1"}, // forged left part ignored
		{"127.0.0.1:5000", []string{"198.51.100.1", "203.0.113.1:4711"}, "203.0.113.1"},    // several headers, port
		{"[::1]:5000", []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{"127.0.0.1:5000", []string{"garbage, 10.0.0.2"}, "10.0.0.2"},  // stop at what cannot be a proxy's
		{"127.0.0.1:5000", []string{"10.0.0.2, 10.0.0.3"}, "10.0.0.2"}, // all proxies: the farthest
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.peer
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientAddr(r, trusted); got != tt.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %q, want %q", tt.peer, tt.xff, got, tt.want)
		}
	}
}

func TestParseTrustedProxiesNamesTheBadEntry(t *testing.T) {
	_, err := router.ParseTrustedProxies([]string{"10.0.0.0/8", "proxy.local"})
	if err == nil || !strings.Contains(err.Error(), `"proxy.local"`) {
		t.Errorf("err = %v", err)
	}
	got, err := router.ParseTrustedProxies([]string{"10.1.2.3/8", "::ffff:127.0.0.1"})
	if err != nil || got[0] != netip.MustParsePrefix("10.0.0.0/8") || !got[1].Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("got %v, %v", got, err)
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	l := NewLimiter(3, time.Minute, nil)
	for i := range 3 * maxLimiterKeys {
		l.Fail(limitKey("192.0.2.1", fmt.Sprintf("%08d-guess", i)))
	}
	if n := len(l.failures); n > maxLimiterKeys {
		t.Errorf("%d keys remembered, want at most %d", n, maxLimiterKeys)
	}
}
