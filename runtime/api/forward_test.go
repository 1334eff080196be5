package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/supervisor"
)

// followerSup is a backend that follows the server at addr; with
// promoteAfter set to n, it supervises from the n-th look on.
type followerSup struct {
	*fakeSup
	addr         string
	promoteAfter atomic.Int64
}

func (f *followerSup) Holder() (string, string, bool) {
	if n := f.promoteAfter.Load(); n > 0 && f.promoteAfter.Add(-1) == 0 {
		f.promoteAfter.Store(-1)
	}
	if f.promoteAfter.Load() < 0 {
		return "follower1", "self", true
	}
	return "owner", f.addr, false
}

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
	be := &followerSup{fakeSup: newFakeSup("api"), addr: strings.TrimPrefix(owner.URL, "http://")}
	a := New(Options{
		Backend: be,
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

	// A request forwarded here by a server that took this one for the
	// supervisor, while this one still follows: after a moment to let the
	// lease settle, it goes on to the supervisor, naming both servers.
	code, _ = do("PUT", "/api/instances/api:x/weight", `{"weight":5}`, map[string]string{forwardedHeader: "other"})
	mu.Lock()
	if want := `PUT /api/instances/api:x/weight {"weight":5} auth=Bearer ` + admin + " by=other, follower1"; code != http.StatusCreated || len(got) != 2 || got[1] != want {
		t.Fatalf("forwarded once: %d, owner received %q, want %q", code, got, want)
	}
	mu.Unlock()
	// One that has been through maxForwards servers is not passed on.
	code, body = do("PUT", "/api/instances/api:x/weight", `{"weight":5}`, map[string]string{forwardedHeader: "a, b, c"})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "retry") {
		t.Fatalf("request forwarded %d times: %d %s, want 503 asking to retry", maxForwards, code, body)
	}
	// One that arrives while the lease reaches this server is handled here.
	be.promoteAfter.Store(3)
	code, _ = do("PUT", "/api/instances/api:x/weight", `{"weight":5}`, map[string]string{forwardedHeader: "other"})
	mu.Lock()
	if code == http.StatusCreated || len(got) != 2 {
		t.Fatalf("forwarded while the lease arrives: %d, owner received %q; want it handled here", code, got)
	}
	mu.Unlock()
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

// handingOverSup supervises until its first mutation, which it refuses as
// a server whose lease moved to owner meanwhile (a hand-over between the
// look at the lease and the call); undo makes the hand-over fail instead.
type handingOverSup struct {
	*fakeSup
	addr  string
	undo  bool
	moved atomic.Bool
}

func (f *handingOverSup) Holder() (string, string, bool) {
	if f.moved.Load() && !f.undo {
		return "owner", f.addr, false
	}
	return "srv1", "", true
}

func (f *handingOverSup) SetWeight(ctx context.Context, service, id string, w int) error {
	if f.moved.CompareAndSwap(false, true) {
		return fmt.Errorf("%s:%s: %w", service, id, supervisor.ErrNotSupervisor)
	}
	return f.fakeSup.SetWeight(ctx, service, id, w)
}

func TestMutationRefusedDuringHandOverIsPassedOn(t *testing.T) {
	for _, tt := range []struct {
		name      string
		undo      bool
		via       string
		wantCode  int
		wantOwner int // requests the owner received
	}{
		{"sent on to the new holder", false, "", http.StatusCreated, 1},
		{"handled here when the hand-over is undone", true, "", http.StatusOK, 0},
		{"refused after too many servers", false, "a, b, c", http.StatusServiceUnavailable, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got atomic.Int64
			owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.Add(1)
				if b, _ := io.ReadAll(r.Body); string(b) != `{"weight":5}` {
					t.Errorf("owner received body %q", b)
				}
				w.WriteHeader(http.StatusCreated)
			}))
			defer owner.Close()
			fs := newFakeSup("api")
			fs.insts["api:x"] = supervisor.Instance{Service: "api", ID: "x"}
			be := &handingOverSup{fakeSup: fs, addr: strings.TrimPrefix(owner.URL, "http://"), undo: tt.undo}
			a := New(Options{Backend: be, DB: openDB(t), Health: Health{ServerID: "srv1"}, Streams: context.Background()})
			admin, err := a.Tokens().Issue(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(a)
			defer srv.Close()
			req, _ := http.NewRequest("PUT", srv.URL+"/api/instances/api:x/weight", strings.NewReader(`{"weight":5}`))
			req.Header.Set("Authorization", "Bearer "+admin)
			if tt.via != "" {
				req.Header.Set(forwardedHeader, tt.via)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode || got.Load() != int64(tt.wantOwner) {
				t.Errorf("status %d, owner received %d; want %d, %d", resp.StatusCode, got.Load(), tt.wantCode, tt.wantOwner)
			}
			if resp.Header.Get(movedHeader) != "" {
				t.Errorf("the internal %s header reached the client", movedHeader)
			}
		})
	}
}
