package server_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const benchConfig = `
[settings]
health_check_interval = 5

[service.api]
command = "@APP@"

[service.sleepy]
command = "@APP@"
idle_timeout = 1
`

// BenchmarkProxy measures one tenant reached directly and through
// `ten serve`, in the same run, with the same client and concurrency:
//
//	go test -run '^$' -bench BenchmarkProxy -benchtime 3s ./runtime/server/
//
// Each sub-benchmark reports requests per second and the p50 and p99
// latency of a request.
func BenchmarkProxy(b *testing.B) {
	e := newEnv(b, benchConfig)
	admin := e.adminToken(b)
	s := e.startServer(b)
	e.mustCLI(b, s, "spawn", "api:bench")
	direct := s.instances(b, admin)["api:bench"].Listen
	if direct == "" {
		b.Fatal("no listen address for api:bench")
	}
	b.Run("direct", func(b *testing.B) { load(b, "http://"+direct+"/health", "") })
	b.Run("ten", func(b *testing.B) { load(b, s.url+"/health", "bench.api.localhost") })
}

// loadWorkers is the number of concurrent clients.
const loadWorkers = 16

func load(b *testing.B, url, host string) {
	client := &http.Client{Transport: &http.Transport{
		Proxy: nil, MaxIdleConns: loadWorkers, MaxIdleConnsPerHost: loadWorkers,
	}}
	defer client.CloseIdleConnections()
	get := func() error {
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			return err
		}
		if host != "" {
			req.Host = host
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// Open the connections before the clock starts.
	var warm sync.WaitGroup
	for range loadWorkers {
		warm.Go(func() { get() })
	}
	warm.Wait()

	lat := make([]time.Duration, b.N)
	var next, failed atomic.Int64
	var firstErr atomic.Value
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range loadWorkers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := get(); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed, first: %v", n, b.N, firstErr.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	reportPercentiles(b, lat, "µs", time.Microsecond)
}

func reportPercentiles(b *testing.B, lat []time.Duration, unit string, scale time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := min(len(lat)-1, int(float64(len(lat))*p))
		return float64(lat[i]) / float64(scale)
	}
	b.ReportMetric(pct(0.50), "p50-"+unit)
	b.ReportMetric(pct(0.99), "p99-"+unit)
}

// BenchmarkColdWake measures the first request to an instance that was
// stopped for being idle: the request wakes it (spawn, readiness check)
// and is then answered. Instances are put to sleep in batches outside the
// timer, so a few iterations take seconds of wall time:
//
//	go test -run '^$' -bench BenchmarkColdWake -benchtime 30x ./runtime/server/
func BenchmarkColdWake(b *testing.B) {
	e := newEnv(b, benchConfig)
	admin := e.adminToken(b)
	s := e.startServer(b)
	auth := http.Header{"Authorization": {"Bearer " + admin}}

	const batch = 10
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		n := min(batch, b.N-done)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("w%d", done+i)
			body := fmt.Sprintf(`{"process":"sleepy","id":%q}`, ids[i])
			if code, out, _ := s.request(b, "POST", "", "/api/instances/spawn", strings.NewReader(body), auth); code != 200 {
				b.Fatalf("spawn: %d %s", code, out)
			}
		}
		waitFor(b, "the batch to go idle", 30*time.Second, func() bool {
			inst := s.instances(b, admin)
			for _, id := range ids {
				if _, listed := inst["sleepy:"+id]; listed { // idle ones are not
					return false
				}
			}
			return true
		})
		for _, id := range ids {
			b.StartTimer()
			t0 := time.Now()
			code, out, _ := s.request(b, "GET", id+".sleepy.localhost", "/health", nil, nil)
			lat = append(lat, time.Since(t0))
			b.StopTimer()
			if code != 200 {
				b.Fatalf("wake %s: %d %s", id, code, out)
			}
		}
		for _, id := range ids {
			s.request(b, "DELETE", "", "/api/instances/sleepy:"+id, nil, auth)
		}
		done += n
	}
	reportPercentiles(b, lat, "ms", time.Millisecond)
}
