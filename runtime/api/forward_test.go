package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// followerSup is a backend that follows the server at addr.
type followerSup struct {
	*fakeSup
	addr string
}

func (f *followerSup) Holder() (string, string, bool) { return "owner", f.addr, false }

func TestFollowerForwardsMutationsToSupervisor(t *testing.T) {
	var mu sync.Mutex
	var got []string
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(body)+" auth="+r.Header.Get("Authorization")+" by="+r.Header.Get(forwardedHeader))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"from":"owner"}`)
	}))
	defer owner.Close()

	db := openDB(t)
	a := New(Options{
		Backend: &followerSup{fakeSup: newFakeSup("api"), addr: strings.TrimPrefix(owner.URL, "http://")},
		DB:      db,
		Health:  Health{ServerID: "follower1"},
		Streams: context.Background(),
	})
	admin, err := a.Tokens().Issue(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()

	do := func(method, path, body string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		c := &http.Client{Timeout: 5 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, body := do("POST", "/api/instances/spawn", `{"service":"api","id":"x"}`, nil)
	if code != http.StatusCreated || body != `{"from":"owner"}` {
		t.Fatalf("spawn on a follower: %d %s, want the owner's answer", code, body)
	}
	mu.Lock()
	want := `POST /api/instances/spawn {"service":"api","id":"x"} auth=Bearer ` + admin + " by=follower1"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("owner received %q, want %q", got, want)
	}
	mu.Unlock()

	// Reads are answered locally.
	if code, _ := do("GET", "/api/instances", "", nil); code != http.StatusOK {
		t.Fatalf("list on a follower: %d", code)
	}
	mu.Lock()
	if len(got) != 1 {
		t.Fatalf("a read was forwarded: %q", got)
	}
	mu.Unlock()

	// A request already forwarded once is not passed on again.
	code, body = do("PUT", "/api/instances/api:x/weight", `{"weight":5}`, map[string]string{forwardedHeader: "other"})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "retry") {
		t.Fatalf("twice-forwarded request: %d %s, want 503 asking to retry", code, body)
	}
	// Unauthenticated requests are refused before anything is forwarded.
	req, _ := http.NewRequest("DELETE", srv.URL+"/api/instances/api:x", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated: %d", resp.StatusCode)
	}
}
