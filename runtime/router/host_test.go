package router

import "testing"

// hostCase is a Host header, the domain, and the tenant ParseHost must
// find; the zero Target means none.
type hostCase struct {
	host, domain string
	want         Target
}

func TestParseHost(t *testing.T) {
	tests := []hostCase{
		{"prod.api.example.com", "example.com", Target{Service: "api", ID: "prod"}},
		{"prod.api.example.com:8080", "example.com", Target{Service: "api", ID: "prod"}},
		{"prod.api.example.com.", "example.com", Target{Service: "api", ID: "prod"}},
		{"prod.api.EXAMPLE.com", "example.com", Target{Service: "api", ID: "prod"}},
		{"user-1.notes.localhost:9000", "localhost", Target{Service: "notes", ID: "user-1"}},
		{"api.example.com", "example.com", Target{Service: "api"}},
		{"api.example.com:443", "example.com", Target{Service: "api"}},
		// DNS is case-insensitive: one tenant, whatever the spelling.
		{"ALICE.app.localhost", "localhost", Target{Service: "app", ID: "alice"}},
		{"Alice.APP.Example.COM.:8443", "example.com", Target{Service: "app", ID: "alice"}},
		{"API.example.com", "EXAMPLE.com.", Target{Service: "api"}},
		// Only ASCII folds: the Kelvin sign must not become "k".
		{"\u212Aate.app.localhost", "localhost", Target{Service: "app", ID: "\u212Aate"}},
	}
	// Hosts that name no tenant under the domain.
	for domain, hosts := range map[string][]string{
		"example.com": {"example.com", "example.com:8080", "other.com", "api.notexample.com", "xexample.com",
			"a.b.c.example.com", ".api.example.com", "..example.com", ""},
		"localhost": {"127.0.0.1:8080", "[::1]:8080"},
		"":          {"api.example.com"},
	} {
		for _, host := range hosts {
			tests = append(tests, hostCase{host, domain, Target{}})
		}
	}
	for _, tt := range tests {
		got, ok := ParseHost(tt.host, tt.domain)
		if got != tt.want || ok != (tt.want != Target{}) {
			t.Errorf("ParseHost(%q, %q) = %+v, %v; want %+v", tt.host, tt.domain, got, ok, tt.want)
		}
	}
}

func TestTargetString(t *testing.T) {
	if got := (Target{Service: "api", ID: "prod"}).String(); got != "api:prod" {
		t.Errorf("got %q", got)
	}
	if got := (Target{Service: "api"}).String(); got != "api" {
		t.Errorf("got %q", got)
	}
}

func TestIsSubdomain(t *testing.T) {
	for host, want := range map[string]bool{
		"a.b.c.example.com": true, "x.example.com:80": true, "example.com": false, "other.org": false, "127.0.0.1:8080": false,
	} {
		if got := IsSubdomain(host, "example.com"); got != want {
			t.Errorf("IsSubdomain(%q) = %v", host, got)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"ALICE.App.Localhost":     "alice.app.localhost",
		"alice.app.localhost.:80": "alice.app.localhost",
		"[::1]:8080":              "::1",
		"127.0.0.1":               "127.0.0.1",
		"\u212Aate.app.localhost": "\u212Aate.app.localhost",
		"":                        "",
	} {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}
