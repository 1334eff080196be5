package router

import (
	"net/http"
	"net/netip"
	"testing"
)

// Same class as issue 13 defect 3: forwarding headers are the client's to
// forge unless they come from the proxy in front. With trusted_proxies
// set, a client that is not one of them cannot tell the tenant it came
// over https or from another host or address.
func TestForwardingHeadersOnlyFromTrustedProxies(t *testing.T) {
	got := make(chan http.Header, 1)
	addr := tenant(t, func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() })
	forged := http.Header{
		"X-Forwarded-For":   {"203.0.113.9"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host":  {"bank.example"},
		"Forwarded":         {"for=203.0.113.9;proto=https"},
	}
	for _, tt := range []struct {
		name    string
		trusted TrustedProxies
		passed  bool
	}{
		{"no trusted_proxies: passed as before", nil, true},
		{"peer is a trusted proxy", TrustedProxies{netip.MustParsePrefix("127.0.0.0/8")}, true},
		{"peer is not a trusted proxy", TrustedProxies{netip.MustParsePrefix("192.0.2.1/32")}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fb := newFake()
			fb.set("api:prod", addr)
			s, _ := front(t, Options{Backend: fb, TrustedProxies: tt.trusted})
			resp := do(t, s, "GET", "prod.api.example.com", "/", nil, forged)
			resp.Body.Close()
			h := <-got
			if tt.passed {
				if h.Get("X-Forwarded-Proto") != "https" || h.Get("X-Forwarded-Host") != "bank.example" || h.Get("X-Forwarded-For") != "203.0.113.9, 127.0.0.1" {
					t.Errorf("headers from the proxy not passed: %v", h)
				}
				return
			}
			if h.Get("X-Forwarded-Proto") != "http" || h.Get("X-Forwarded-Host") != "prod.api.example.com" ||
				h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("Forwarded") != "" {
				t.Errorf("forged headers reached the tenant: %v", h)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies([]string{"10.1.2.3/8", "::ffff:127.0.0.1", "::1"})
	if err != nil || len(got) != 3 || got[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Fatalf("%v %v", got, err)
	}
	for addr, want := range map[string]bool{"127.0.0.1:80": true, "[::1]:80": true, "10.9.9.9:1": true, "192.0.2.1:1": false, "junk": false} {
		if got.Peer(addr) != want {
			t.Errorf("Peer(%q) = %v", addr, !want)
		}
	}
	if _, err := ParseTrustedProxies([]string{"proxy.local"}); err == nil {
		t.Error("a host name was accepted")
	}
}
