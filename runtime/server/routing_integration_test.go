package server_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	tensite "github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/runtime/api"
)

var routingConfig = tensite.APIServices + tensite.TestappService("web") + `
[routing]
default = "api"
[routing.subdomain]
"*.t.localhost" = "web"
[routing.path]
"/blog" = "web"
`

// [routing] end to end, with real tenants (tenement/src/config.rs
// RoutingConfig; see runtime/router/rules.go), and hosts lower-cased
// before routing (issue 13 defect 5): ALICE.api.localhost reached a second
// process api:ALICE before.
func TestServeRoutingTableAndHostCase(t *testing.T) {
	e := newEnv(t, routingConfig)
	admin := e.adminToken(t)
	s := e.startServer(t)
	e.mustCLI(t, s, "spawn", "api", "--id", "alice")
	e.mustCLI(t, s, "spawn", "web", "--id", "v1")

	if ti := s.tenant(t, "ALICE.Api.LOCALHOST.", "/who"); ti.Name != "alice" {
		t.Errorf("ALICE.Api.LOCALHOST. reached %q, want alice", ti.Name)
	}
	if _, ok := s.instances(t, admin)["api:ALICE"]; ok {
		t.Errorf("an upper-case Host spawned api:ALICE beside api:alice")
	}
	// Wildcard host: the label is the instance (woken on request).
	if ti := s.tenant(t, "Bob.t.localhost", "/"); ti.Name != "bob" {
		t.Errorf("bob.t.localhost reached %q, want web:bob", ti.Name)
	}
	// Path rule on the bare domain, path unchanged.
	if ti := s.tenant(t, "localhost", "/blog/post"); ti.Path != "/blog/post" || ti.Name == "alice" {
		t.Errorf("localhost/blog/post reached %+v, want a web instance", ti)
	}
	// Default: the rest of the bare domain and other hosts.
	if ti := s.tenant(t, "127.0.0.1", "/anything"); ti.Name != "alice" {
		t.Errorf("127.0.0.1/anything reached %q, want api (default)", ti.Name)
	}
	// ten's own endpoints stay ten's.
	var h api.Health
	if code := s.getJSON(t, "/health", "", &h); code != 200 || h.Nonce != e.nonce {
		t.Errorf("/health: %d %+v", code, h)
	}
	if code, _, _ := s.request(t, "GET", "localhost", "/api/instances", nil, nil); code != 401 {
		t.Errorf("/api/instances without token on the bare domain: %d, want the API's 401", code)
	}
}

// Issue 13 defect 4, against a real server: 500 requests with random
// hosts (random services, random instances of random services) leave the
// number of tenement_ lines in /metrics unchanged.
func TestServeMetricsBoundedUnderRandomHosts(t *testing.T) {
	e := newEnv(t, mainConfig)
	s := e.startServer(t)
	s.request(t, "GET", "nosuch.localhost", "/", nil, nil)
	s.request(t, "GET", "a.nosuch.localhost", "/", nil, nil)
	count := func() int {
		_, body, _ := s.request(t, "GET", "", "/metrics", nil, nil)
		n := 0
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "tenement_") {
				n++
			}
		}
		return n
	}
	before := count()
	for i := range 500 {
		host := fmt.Sprintf("x%x.localhost", rand.Uint64())
		if i%2 == 1 {
			host = fmt.Sprintf("y%x.x%x.localhost", rand.Uint64(), rand.Uint64())
		}
		if code, _, _ := s.request(t, "GET", host, "/", nil, nil); code != 404 {
			t.Fatalf("%s: %d, want 404", host, code)
		}
	}
	if after := count(); after != before {
		t.Errorf("/metrics grew from %d to %d tenement_ lines after 500 random hosts", before, after)
	}
}
