package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenement/ten/internal/testbin"
	"github.com/tenement/ten/runtime/supervisor"
)

// fakeBackend hands out addresses from a script: each name maps to a queue
// of addresses, consumed one per Acquire, the last one repeating.
type fakeBackend struct {
	mu       sync.Mutex
	addrs    map[string][]string // "svc:id" -> addresses
	services map[string][]string // svc -> ids, picked round-robin
	next     map[string]int
	block    bool // Acquire waits for ctx instead of answering
	inflight atomic.Int64
	acquired atomic.Int64
}

func newFake() *fakeBackend {
	return &fakeBackend{addrs: map[string][]string{}, services: map[string][]string{}, next: map[string]int{}}
}

func (f *fakeBackend) set(name string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs[name] = addrs
}

func (f *fakeBackend) Acquire(ctx context.Context, service, id string) (string, func(), error) {
	if f.block {
		<-ctx.Done()
		return "", nil, ctx.Err()
	}
	f.mu.Lock()
	q, ok := f.addrs[service+":"+id]
	if !ok {
		f.mu.Unlock()
		return "", nil, fmt.Errorf("acquire %s:%s: %w", service, id, supervisor.ErrUnknownService)
	}
	addr := q[0]
	if len(q) > 1 {
		f.addrs[service+":"+id] = q[1:]
	}
	f.mu.Unlock()
	f.acquired.Add(1)
	f.inflight.Add(1)
	var once sync.Once
	return addr, func() { once.Do(func() { f.inflight.Add(-1) }) }, nil
}

func (f *fakeBackend) AcquireService(ctx context.Context, service string) (string, string, func(), error) {
	f.mu.Lock()
	ids := f.services[service]
	if len(ids) == 0 {
		f.mu.Unlock()
		return "", "", nil, supervisor.ErrUnknownService
	}
	id := ids[f.next[service]%len(ids)]
	f.next[service]++
	f.mu.Unlock()
	addr, release, err := f.Acquire(ctx, service, id)
	return id, addr, release, err
}

func tenant(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func front(t *testing.T, opts Options) (*httptest.Server, *[]Result) {
	t.Helper()
	var mu sync.Mutex
	results := &[]Result{}
	opts.Domain = "example.com"
	opts.Observe = func(r Result) {
		mu.Lock()
		*results = append(*results, r)
		mu.Unlock()
	}
	s := httptest.NewServer(New(opts))
	t.Cleanup(s.Close)
	return s, results
}

func do(t *testing.T, s *httptest.Server, method, host, path string, body io.Reader, hdr http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestProxyPassesRequestThrough(t *testing.T) {
	type seen struct {
		method, host, rawQuery, body string
		header                       http.Header
	}
	got := make(chan seen, 1)
	addr := tenant(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Host, r.URL.RawQuery, string(b), r.Header.Clone()}
		w.Header().Set("X-Tenant", "yes")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	})
	fb := newFake()
	fb.set("api:prod", addr)
	s, results := front(t, Options{Backend: fb})

	resp := do(t, s, "POST", "prod.api.example.com", "/things?b=2&a=1&a=%zz", strings.NewReader("payload"), http.Header{
		"Authorization":     {"Bearer secret"},
		"X-Custom":          {"1", "2"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-For":   {"203.0.113.9"},
		"Cookie":            {"c=3"},
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if body := readAll(t, resp); body != "made" {
		t.Errorf("body %q", body)
	}
	if resp.Header.Get("X-Tenant") != "yes" || len(resp.Header.Values("Set-Cookie")) != 2 {
		t.Errorf("response headers not passed: %v", resp.Header)
	}
	r := <-got
	if r.method != "POST" || r.body != "payload" || r.host != "prod.api.example.com" {
		t.Errorf("tenant saw %+v", r)
	}
	if r.rawQuery != "b=2&a=1&a=%zz" {
		t.Errorf("query %q", r.rawQuery)
	}
	if r.header.Get("Authorization") != "Bearer secret" || len(r.header.Values("X-Custom")) != 2 || r.header.Get("Cookie") != "c=3" {
		t.Errorf("headers not passed: %v", r.header)
	}
	if r.header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want the front proxy's https", r.header.Get("X-Forwarded-Proto"))
	}
	if xff := r.header.Get("X-Forwarded-For"); !strings.HasPrefix(xff, "203.0.113.9, 127.0.0.1") {
		t.Errorf("X-Forwarded-For = %q", xff)
	}
	if fb.inflight.Load() != 0 {
		t.Errorf("in flight after response: %d", fb.inflight.Load())
	}
	if len(*results) != 1 || (*results)[0] != (Result{Service: "api", ID: "prod", Method: "POST", Status: 201, Duration: (*results)[0].Duration}) {
		t.Errorf("results %+v", *results)
	}
}

func TestUnknownHostsAndServicesGetBare404(t *testing.T) {
	fb := newFake()
	s, _ := front(t, Options{Backend: fb})
	for _, host := range []string{"nope.example.com", "x.nope.example.com", "other.org", "a.b.c.example.com"} {
		resp := do(t, s, "GET", host, "/", nil, nil)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusNotFound || body != "Not Found\n" {
			t.Errorf("%s: %d %q", host, resp.StatusCode, body)
		}
	}
}

func TestWeightedRouting(t *testing.T) {
	a := tenant(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") })
	b := tenant(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	fb := newFake()
	fb.set("api:v1", a)
	fb.set("api:v2", b)
	fb.services["api"] = []string{"v1", "v2"}
	s, results := front(t, Options{Backend: fb})
	var got []string
	for range 4 {
		got = append(got, readAll(t, do(t, s, "GET", "api.example.com", "/", nil, nil)))
	}
	if strings.Join(got, "") != "abab" {
		t.Errorf("got %v", got)
	}
	if (*results)[1].ID != "v2" {
		t.Errorf("result id %q", (*results)[1].ID)
	}
}

func TestStreamingIsNotBuffered(t *testing.T) {
	release := make(chan struct{})
	addr := tenant(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: second\n\n")
	})
	fb := newFake()
	fb.set("api:prod", addr)
	s, _ := front(t, Options{Backend: fb})
	resp := do(t, s, "GET", "prod.api.example.com", "/events", nil, nil)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event: %q %v", line, err)
	}
	// The tenant is still mid-response, so the request is still in flight.
	if fb.inflight.Load() != 1 {
		t.Errorf("in flight during stream = %d, want 1", fb.inflight.Load())
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: second") {
		t.Errorf("rest %q", rest)
	}
}

func TestRetriesWhenInstanceVanished(t *testing.T) {
	var hits atomic.Int64
	good := tenant(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	})
	fb := newFake()
	s, _ := front(t, Options{Backend: fb})
	for _, method := range []string{"GET", "POST"} {
		// The first two acquisitions hand out the address of a crashed
		// instance; the backend then "respawns" it.
		fb.set("api:prod", testbin.DeadAddr(t), testbin.DeadAddr(t), good)
		before := fb.acquired.Load()
		resp := do(t, s, method, "prod.api.example.com", "/", strings.NewReader("body"), nil)
		body := readAll(t, resp)
		if resp.StatusCode != 200 || body != method+" body" {
			t.Errorf("%s: %d %q", method, resp.StatusCode, body)
		}
		if n := fb.acquired.Load() - before; n != 3 {
			t.Errorf("%s: acquired %d times, want 3", method, n)
		}
	}
	if fb.inflight.Load() != 0 {
		t.Errorf("leaked %d acquisitions", fb.inflight.Load())
	}
}

func TestNonIdempotentRequestIsNotReplayedAfterBodyWasSent(t *testing.T) {
	// A tenant that reads the body and then drops the connection.
	addr := tenant(t, func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	fb := newFake()
	fb.set("api:prod", addr)
	s, _ := front(t, Options{Backend: fb})
	resp := do(t, s, "POST", "prod.api.example.com", "/", strings.NewReader("once"), nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusBadGateway || body != "Bad Gateway\n" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if n := fb.acquired.Load(); n != 1 {
		t.Errorf("acquired %d times, want 1 (no replay)", n)
	}
}

func TestTimeoutWhileWaitingForInstance(t *testing.T) {
	fb := newFake()
	fb.block = true
	s, _ := front(t, Options{Backend: fb, Timeout: func(string) time.Duration { return 50 * time.Millisecond }})
	resp := do(t, s, "GET", "prod.api.example.com", "/", nil, nil)
	if body := readAll(t, resp); resp.StatusCode != http.StatusGatewayTimeout || body != "Gateway Timeout\n" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}

func TestStatusFor(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("x: %w", supervisor.ErrUnknownService), 404},
		{supervisor.ErrNotFound, 404},
		{supervisor.ErrInvalidID, 404},
		{supervisor.ErrFailed, 503},
		{errTimeout, 504},
		{io.ErrUnexpectedEOF, 502},
	}
	for _, tt := range tests {
		if got := StatusFor(tt.err); got != tt.want {
			t.Errorf("StatusFor(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestUpgradeIsRelayed(t *testing.T) {
	addr := tenant(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	})
	fb := newFake()
	fb.set("api:prod", addr)
	s, _ := front(t, Options{Backend: fb})

	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: prod.api.example.com\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	fmt.Fprintf(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: hello\n" {
		t.Errorf("got %q %v", line, err)
	}
}

// elsewhereBackend follows another server: every instance must be started
// by it, unless the request was already passed on as often as allowed.
type elsewhereBackend struct {
	owner, local string
	waited       atomic.Int64
}

func (b *elsewhereBackend) Acquire(ctx context.Context, service, id string) (string, func(), error) {
	if supervisor.WaitsForSupervisor(ctx) {
		b.waited.Add(1)
		return b.local, func() {}, nil
	}
	return "", nil, &supervisor.WakeElsewhereError{Server: "owner", Addr: b.owner}
}

func (b *elsewhereBackend) AcquireService(ctx context.Context, service string) (string, string, func(), error) {
	addr, release, err := b.Acquire(ctx, service, "x")
	return "x", addr, release, err
}

// A follower passes a request for an instance only the supervising server
// may start to that server, body and Host intact, counting the hop; a
// request passed on twice waits instead; tenants never see the count.
func TestRequestForInstanceToStartGoesToSupervisor(t *testing.T) {
	type seen struct{ host, hops, body string }
	record := func(ch chan seen, answer string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			ch <- seen{r.Host, r.Header.Get(hopsHeader), string(b)}
			io.WriteString(w, answer)
		}
	}
	atOwner, atTenant := make(chan seen, 1), make(chan seen, 1)
	be := &elsewhereBackend{owner: tenant(t, record(atOwner, "owner")), local: tenant(t, record(atTenant, "tenant"))}
	s, _ := front(t, Options{Backend: be})

	for _, tc := range []struct {
		name, hops, wantFrom, wantHops string
	}{
		{"first hop", "", "owner", "1"},
		{"second hop", "1", "owner", "2"},
		{"passed on twice: waits", "2", "tenant", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{}
			if tc.hops != "" {
				hdr.Set(hopsHeader, tc.hops)
			}
			resp := do(t, s, "POST", "x.api.example.com", "/p", strings.NewReader("payload"), hdr)
			if got := readAll(t, resp); resp.StatusCode != 200 || got != tc.wantFrom {
				t.Fatalf("answered %d %q, want %q", resp.StatusCode, got, tc.wantFrom)
			}
			var sn seen
			if tc.wantFrom == "owner" {
				sn = <-atOwner
			} else {
				sn = <-atTenant
			}
			if sn.host != "x.api.example.com" || sn.hops != tc.wantHops || sn.body != "payload" {
				t.Errorf("%s saw %+v, want Host x.api.example.com, hops %q, the body", tc.wantFrom, sn, tc.wantHops)
			}
		})
	}
	if n := be.waited.Load(); n != 1 {
		t.Errorf("%d requests waited for the supervisor, want 1", n)
	}
}
