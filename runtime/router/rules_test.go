package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// The [routing] keys mean what tenement/src/config.rs declares for
// RoutingConfig (default: "Default process to route to"; subdomain:
// "*.example.com" -> process; path: "/api" -> process; its own test
// test_routing_config uses "api.example.com", "*.tenant.example.com",
// "/api" and "/health"). Before, ten read them and routed by host only.
func TestRoutingTableAsTenementRoutingConfigDeclares(t *testing.T) {
	rt := New(Options{Backend: newFake(), Domain: "example.com", Routes: Routes{
		Default: "www",
		Subdomain: map[string]string{
			"API.example.com":         "api", // exact host, matched lower-cased
			"*.tenant.example.com":    "app", // the label names the instance
			"*.eu.tenant.example.com": "eu",  // longer suffix wins
			"custom.example.org.":     "shop",
		},
		Path: map[string]string{
			"/blog":       "blog",
			"/blog/admin": "admin", // longest prefix wins
			"/api":        "api",   // cannot take ten's own API
			"/health":     "api",
		},
	}})
	tests := []struct {
		host, path string
		want       Target
		ok, owned  bool
	}{
		// 1. exact host rules, before the {service}.{domain} convention.
		{"api.example.com", "/x", Target{Service: "api"}, true, true},
		{"custom.example.org:8443", "/", Target{Service: "shop"}, true, true},
		// 2. wildcard: one label in place of "*".
		{"Alice.tenant.example.com", "/", Target{Service: "app", ID: "alice"}, true, true},
		{"bob.eu.tenant.example.com", "/", Target{Service: "eu", ID: "bob"}, true, true},
		{"a.b.c.tenant.example.com", "/", Target{}, false, true}, // under the domain: a tenant 404
		// 3. the host convention still holds for everything else.
		{"prod.web.example.com", "/", Target{Service: "web", ID: "prod"}, true, true},
		{"web.example.com", "/api/instances", Target{Service: "web"}, true, true},
		// 4. path rules on the bare domain and other hosts, whole segments.
		{"www.example.org", "/blog", Target{Service: "blog"}, true, true},
		{"www.example.org", "/blog/post/1", Target{Service: "blog"}, true, true},
		{"127.0.0.1:8080", "/blog/admin/x", Target{Service: "admin"}, true, true},
		{"www.example.org", "/blogs", Target{Service: "www"}, true, true},
		{"www.example.org", "/blog/../secret", Target{Service: "www"}, true, true},
		// ten's own endpoints are never taken by path or default rules.
		{"example.com", "/api/instances", Target{}, false, false},
		{"127.0.0.1:8080", "/api", Target{}, false, false},
		{"example.com", "/health", Target{}, false, false},
		{"example.com", "/metrics", Target{}, false, false},
		{"example.com", "/x/../api/instances", Target{}, false, false},
		// A host rule for the bare domain takes all but ten's endpoints.
		{"Example.com", "/", Target{Service: "www"}, true, true},
		{"example.com.", "/health", Target{}, false, false},
		{"custom.example.org", "/health", Target{Service: "shop"}, true, true},
		// 5. default takes the rest.
		{"elsewhere.net", "/", Target{Service: "www"}, true, true},
		{"elsewhere.net", "/anything", Target{Service: "www"}, true, true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "http://placeholder"+tt.path, nil)
		r.URL.Path = tt.path
		r.Host = tt.host
		got, ok, owned := rt.resolve(r)
		if got != tt.want || ok != tt.ok || owned != tt.owned {
			t.Errorf("%s%s: got %+v ok=%v owned=%v; want %+v ok=%v owned=%v", tt.host, tt.path, got, ok, owned, tt.want, tt.ok, tt.owned)
		}
	}
}

func TestNoRoutingTableKeepsTheHostConventionOnly(t *testing.T) {
	rt := New(Options{Backend: newFake(), Domain: "example.com"})
	for _, c := range []struct {
		host, path string
		owned      bool
	}{
		{"example.com", "/", false}, {"127.0.0.1:8080", "/blog", false}, {"x.example.com", "/", true},
	} {
		r := httptest.NewRequest("GET", c.path, nil)
		r.Host = c.host
		if got := rt.Owns(r); got != c.owned {
			t.Errorf("Owns(%s%s) = %v, want %v", c.host, c.path, got, c.owned)
		}
	}
}

func TestUnusableRoutingPatternsAreReported(t *testing.T) {
	rt := New(Options{Backend: newFake(), Domain: "example.com", Routes: Routes{
		Subdomain: map[string]string{"a.*.example.com": "x", "*": "y", "ok.example.com": "z"},
		Path:      map[string]string{"blog": "b", "/ok": "c"},
	}})
	want := []string{
		`routing.path blog: want a path starting with "/"`,
		`routing.subdomain *: want a host name or "*.suffix"`,
		`routing.subdomain a.*.example.com: want a host name or "*.suffix"`,
	}
	if got := rt.Warnings(); !slices.Equal(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
}

// End to end: a path rule on the bare domain reaches the service by weight,
// with the path unchanged, and a wildcard host reaches its instance.
func TestRoutingTableProxies(t *testing.T) {
	seen := make(chan string, 2)
	addr := tenant(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.URL.Path
		io.WriteString(w, "ok")
	})
	fb := newFake()
	fb.set("blog:v1", addr)
	fb.set("app:alice", addr)
	fb.services["blog"] = []string{"v1"}
	s, results := front(t, Options{Backend: fb, Routes: Routes{
		Subdomain: map[string]string{"*.t.example.com": "app"},
		Path:      map[string]string{"/blog": "blog"},
	}})
	if resp := do(t, s, "GET", "example.com", "/blog/post", nil, nil); resp.StatusCode != 200 || readAll(t, resp) != "ok" {
		t.Fatalf("path route: status %d", resp.StatusCode)
	}
	if p := <-seen; p != "/blog/post" {
		t.Errorf("tenant saw path %q, want it unchanged", p)
	}
	if resp := do(t, s, "GET", "ALICE.t.example.com", "/", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("wildcard route: status %d", resp.StatusCode)
	}
	<-seen
	if len(*results) != 2 || (*results)[0].Service != "blog" || (*results)[0].ID != "v1" || (*results)[1].ID != "alice" {
		t.Errorf("results %+v", *results)
	}
}
