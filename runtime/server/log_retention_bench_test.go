package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/store"
)

// BenchmarkProxyDuringLogPrune measures requests through ten to a tenant,
// and to the log API, while the server deletes expired log lines at start
// (in batches, in the background), and the same requests once it is done:
//
//	go test -run '^$' -bench ProxyDuringLogPrune -benchtime 1x ./runtime/server/
//
// It reports the p50, p99 and worst latency of each phase and how long the
// prune took. Requests that fail fail the benchmark.
func BenchmarkProxyDuringLogPrune(b *testing.B) {
	const expired = 150000
	for range b.N {
		b.StopTimer()
		e := newEnv(b, "[service.api]\ncommand = \"@APP@\"\n[instances]\napi = [\"bench\"]\n")
		admin := e.adminToken(b)
		db, err := store.Open(context.Background(), filepath.Join(e.dataDir, "tenement.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
			INSERT INTO logs (timestamp, level, process, instance_id, message)
			SELECT ?, 'stdout', 'api', 'bench', 'GET /notes/' || i || ' 200 in 3ms user=alice agent=curl' FROM seq`,
			expired, time.Now().Add(-60*24*time.Hour).UTC().Format("2006-01-02T15:04:05.000000Z07:00")); err != nil {
			b.Fatal(err)
		}

		b.StartTimer()
		start := time.Now()
		s := e.startServer(b)
		var pruning atomic.Bool
		pruning.Store(true)
		var pruneTook time.Duration
		go func() {
			for {
				var n int
				if db.QueryRow(`SELECT count(*) FROM (SELECT 1 FROM logs WHERE timestamp < ? LIMIT 1)`,
					time.Now().Add(-30*24*time.Hour).UTC().Format(time.RFC3339)).Scan(&n) == nil && n == 0 {
					pruneTook = time.Since(start)
					pruning.Store(false)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()

		client := &http.Client{Timeout: 30 * time.Second}
		do := func(host, path string) (time.Duration, error) {
			req, _ := http.NewRequest("GET", s.url+path, nil)
			if host != "" {
				req.Host = host
			} else {
				req.Header.Set("Authorization", "Bearer "+admin)
			}
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return 0, &statusError{resp.StatusCode}
			}
			return time.Since(t0), nil
		}
		waitFor(b, "api:bench", 30*time.Second, func() bool {
			_, err := do("bench.api.localhost", "/health")
			return err == nil
		})
		if !pruning.Load() {
			b.Fatal("the prune ended before the tenant answered: make the table larger")
		}

		var mu sync.Mutex
		var during, after []time.Duration
		var afterSince time.Time
		var wg sync.WaitGroup
		var failed atomic.Value
		for w := range 4 {
			wg.Go(func() {
				for {
					host, path := "bench.api.localhost", "/health"
					if w == 0 {
						host, path = "", "/api/logs?limit=10"
					}
					wasPruning := pruning.Load()
					d, err := do(host, path)
					if err != nil {
						failed.CompareAndSwap(nil, err)
						return
					}
					mu.Lock()
					if wasPruning {
						during = append(during, d)
					} else {
						if afterSince.IsZero() {
							afterSince = time.Now()
						}
						after = append(after, d)
					}
					done := !afterSince.IsZero() && time.Since(afterSince) > 3*time.Second
					mu.Unlock()
					if done {
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatalf("a request failed: %v", err)
		}
		report := func(name string, lat []time.Duration) {
			if len(lat) == 0 {
				b.Fatalf("no requests %s the prune", name)
			}
			slices.Sort(lat)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(lat[len(lat)/2]), name+"-p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), name+"-p99-ms")
			b.ReportMetric(ms(lat[len(lat)-1]), name+"-max-ms")
		}
		report("during", during)
		report("after", after)
		b.ReportMetric(pruneTook.Seconds(), "prune-s")
		db.Close()
	}
}

type statusError struct{ code int }

func (e *statusError) Error() string { return http.StatusText(e.code) }
