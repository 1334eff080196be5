package router

import "testing"

func TestParseHost(t *testing.T) {
	tests := []struct {
		host, domain string
		want         Target
		ok           bool
	}{
		{"prod.api.example.com", "example.com", Target{Service: "api", ID: "prod"}, true},
		{"prod.api.example.com:8080", "example.com", Target{Service: "api", ID: "prod"}, true},
		{"prod.api.example.com.", "example.com", Target{Service: "api", ID: "prod"}, true},
		{"prod.api.EXAMPLE.com", "example.com", Target{Service: "api", ID: "prod"}, true},
		{"user-1.notes.localhost:9000", "localhost", Target{Service: "notes", ID: "user-1"}, true},
		{"api.example.com", "example.com", Target{Service: "api"}, true},
		{"api.example.com:443", "example.com", Target{Service: "api"}, true},
		{"example.com", "example.com", Target{}, false},
		{"example.com:8080", "example.com", Target{}, false},
		{"other.com", "example.com", Target{}, false},
		{"api.notexample.com", "example.com", Target{}, false},
		{"xexample.com", "example.com", Target{}, false},
		{"a.b.c.example.com", "example.com", Target{}, false},
		{".api.example.com", "example.com", Target{}, false},
		{"..example.com", "example.com", Target{}, false},
		{"", "example.com", Target{}, false},
		{"127.0.0.1:8080", "localhost", Target{}, false},
		{"[::1]:8080", "localhost", Target{}, false},
		{"api.example.com", "", Target{}, false},
		// DNS is case-insensitive: one tenant, whatever the spelling.
		{"ALICE.app.localhost", "localhost", Target{Service: "app", ID: "alice"}, true},
		{"Alice.APP.Example.COM.:8443", "example.com", Target{Service: "app", ID: "alice"}, true},
		{"API.example.com", "EXAMPLE.com.", Target{Service: "api"}, true},
		// Only ASCII folds: the Kelvin sign must not become "k".
		{"\u212Aate.app.localhost", "localhost", Target{Service: "app", ID: "\u212Aate"}, true},
	}
	for _, tt := range tests {
		got, ok := ParseHost(tt.host, tt.domain)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseHost(%q, %q) = %+v, %v; want %+v, %v", tt.host, tt.domain, got, ok, tt.want, tt.ok)
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
