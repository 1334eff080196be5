package api

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tenement/ten/runtime/router"
	"github.com/tenement/ten/runtime/supervisor"
)

// routerBackend answers the router for a fixed set of instances: other ids
// of a configured service are not found, other services unknown.
type routerBackend struct {
	mu       sync.Mutex
	services map[string]bool
	insts    map[string]string // "svc:id" -> address
}

func (b *routerBackend) Acquire(ctx context.Context, service, id string) (string, func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.services[service] {
		return "", nil, supervisor.ErrUnknownService
	}
	addr, ok := b.insts[service+":"+id]
	if !ok {
		return "", nil, supervisor.ErrNotFound
	}
	return addr, func() {}, nil
}

func (b *routerBackend) AcquireService(ctx context.Context, service string) (string, string, func(), error) {
	return "", "", nil, supervisor.ErrUnknownService
}

func (b *routerBackend) list() []supervisor.Instance {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []supervisor.Instance
	for name := range b.insts {
		svc, id, _ := strings.Cut(name, ":")
		out = append(out, supervisor.Instance{Service: svc, ID: id, State: supervisor.StateRunning})
	}
	return out
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// tenementLines keeps the tenement_* lines: the Go and process collectors
// vary by themselves.
func tenementLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "tenement_") {
			out = append(out, l)
		}
	}
	return out
}

// Issue 13 defect 4: 500 requests with random subdomains grew /metrics by
// one series each. Label values now come only from configured services and
// existing instances.
func TestMetricsStayBoundedUnderRandomSubdomains(t *testing.T) {
	tenant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer tenant.Close()
	b := &routerBackend{services: map[string]bool{"app": true}, insts: map[string]string{"app:alice": strings.TrimPrefix(tenant.URL, "http://")}}
	m := NewMetrics(b.list)
	m.KnowServices(func(s string) bool { return b.services[s] })
	front := httptest.NewServer(router.New(router.Options{Backend: b, Domain: "example.com", Observe: m.ObserveProxy}))
	defer front.Close()

	get := func(host string) {
		req, _ := http.NewRequest("GET", front.URL+"/", nil)
		req.Host = host
		resp, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("alice.app.example.com")
	get("nobody.app.example.com")
	get("nosuch.example.com")
	base := len(tenementLines(scrape(t, m)))

	for i := range 500 {
		r := rand.Uint64()
		switch i % 3 {
		case 0:
			get(fmt.Sprintf("x%x.example.com", r)) // random service
		case 1:
			get(fmt.Sprintf("x%x.app.example.com", r)) // random id of a real service
		default:
			get(fmt.Sprintf("x%x.y%x.example.com", r, r)) // random both
		}
	}
	body := scrape(t, m)
	if got := len(tenementLines(body)); got != base {
		t.Errorf("/metrics grew from %d to %d tenement_ lines after 500 random hosts:\n%s", base, got, strings.Join(tenementLines(body), "\n"))
	}
	for _, want := range []string{
		`tenement_requests_total{instance="alice",process="app",status="200"} 1`,
		`tenement_requests_total{instance="unknown",process="app",status="404"} 168`,
		`tenement_requests_total{instance="unknown",process="unknown",status="404"} 334`,
		`tenement_request_duration_ms_count{instance="alice",process="app"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// The series of an instance that is gone fold into "(retired)": /metrics
// stays bounded by the instances that exist, and totals never go down
// (ten-upgrade's watch subtracts two scrapes).
func TestMetricsRetireGoneInstancesKeepingTotals(t *testing.T) {
	b := &routerBackend{services: map[string]bool{"app": true}, insts: map[string]string{"app:a": "x", "app:b": "x"}}
	m := NewMetrics(b.list)
	m.ObserveProxy(router.Result{Service: "app", ID: "a", Status: 200})
	m.ObserveProxy(router.Result{Service: "app", ID: "a", Status: 502})
	m.ObserveProxy(router.Result{Service: "app", ID: "b", Status: 502})
	m.ObserveEvent(supervisor.Event{Kind: supervisor.EventRestarted, Instance: supervisor.Instance{Service: "app", ID: "a"}})
	scrape(t, m)

	b.mu.Lock()
	delete(b.insts, "app:a")
	delete(b.insts, "app:b")
	b.mu.Unlock()
	body := scrape(t, m)
	for _, want := range []string{
		`tenement_requests_total{instance="(retired)",process="app",status="200"} 1`,
		`tenement_requests_total{instance="(retired)",process="app",status="502"} 2`,
		`tenement_instance_restarts_total{id="(retired)",process="app"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, strings.Join(tenementLines(body), "\n"))
		}
	}
	for _, gone := range []string{`instance="a"`, `instance="b"`, `id="a"`} {
		if strings.Contains(body, gone) {
			t.Errorf("/metrics still has %s", gone)
		}
	}
}

func TestStatusLabelIsBounded(t *testing.T) {
	for code, want := range map[int]string{200: "200", 599: "599", 99: "other", 600: "other", 0: "other"} {
		if got := statusLabel(code); got != want {
			t.Errorf("statusLabel(%d) = %q, want %q", code, got, want)
		}
	}
}
