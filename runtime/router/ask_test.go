package router

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestAskHandlerAllowsOnlyRoutableNames(t *testing.T) {
	known := map[Target]bool{
		{Service: "notes"}:              true,
		{Service: "api"}:                true,
		{Service: "notes", ID: "alice"}: true,
	}
	rt := New(Options{Backend: newFake(), Domain: "example.com", Routes: Routes{
		Subdomain: map[string]string{"*.t.example.org": "notes"},
	}})
	h := AskHandler("example.com", rt.HostTarget, func(t Target) bool { return known[t] })
	tests := []struct {
		name string
		want int
	}{
		{"example.com", 200},
		{"EXAMPLE.com.", 200},
		{"notes.example.com", 200},
		{"alice.notes.example.com", 200},
		{"Alice.Notes.example.com", 200}, // hosts are lower-cased before routing: this is notes:alice
		{"bob.notes.example.com", 404},   // no such instance
		{"alice.api.example.com", 404},   // alice is not an instance of api
		{"junk.example.com", 404},        // no such service
		{"a.alice.notes.example.com", 404},
		{"alice.notes.example.org", 404},
		{"alice.t.example.org", 200}, // a [routing] wildcard names notes:alice
		{"bob.t.example.org", 404},
		{"example.com:443", 404},
		{"alice.notes.example.com:443", 404},
		{"-x.notes.example.com", 404},
		{"*.notes.example.com", 404},
		{"", 400},
	}
	for _, tc := range tests {
		req := httptest.NewRequest(http.MethodGet, AskPath+"?domain="+url.QueryEscape(tc.name), nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("ask %q = %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
}
