package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestOpenLoopKeepsRateAndClassifies(t *testing.T) {
	ok, bad, refused := targets(t, 503)

	run := func(urls ...string) *Result {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		return RunOpen(ctx, OpenOptions{URLs: urls, Rate: 200})
	}
	r := run(ok)
	// 200/s for 300ms: about 60 requests, whatever the server does.
	if r.Sent < 40 || r.Sent > 70 || r.Failed != 0 {
		t.Fatalf("healthy target: %v (sent %d)", r, r.Sent)
	}
	keep := 0
	for _, s := range r.Samples {
		if s.KeepAlive {
			keep++
		}
	}
	if keep == 0 || keep == r.Sent {
		t.Errorf("%d of %d requests kept alive, want about half", keep, r.Sent)
	}
	if r := run(refused, ok); r.Failed != 0 {
		t.Errorf("fail-over from a refused port: %v", r)
	}
	if r := run(bad); r.Failed != r.Sent || r.ByKind["5xx"] != r.Sent || r.Samples[0].Kind != "5xx" {
		t.Errorf("5xx target: %v", r)
	}
	if r := run(refused); r.Failed != r.Sent || r.ByKind["refused"] != r.Sent {
		t.Errorf("refused target: %v", r)
	}
}

// A server that stalls does not slow the schedule down, and the stall
// counts in the latency of every request that was due during it.
func TestOpenLoopMeasuresFromTheSchedule(t *testing.T) {
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-stall
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	time.AfterFunc(300*time.Millisecond, func() { close(stall) })
	r := RunOpen(ctx, OpenOptions{URLs: []string{srv.URL}, Rate: 100})
	if r.Sent < 15 || r.Failed != 0 {
		t.Fatalf("stalled target: %v (sent %d)", r, r.Sent)
	}
	if first := r.Samples[0]; first.Latency < 250*time.Millisecond {
		t.Errorf("first request latency %s, want the whole stall", first.Latency)
	}
	w := r.Window(r.Samples[0].At, r.Samples[0].At.Add(50*time.Millisecond))
	if w.Sent < 3 || w.Sent > 7 || w.Max() < 200*time.Millisecond {
		t.Errorf("window: %d requests, max %s", w.Sent, w.Max())
	}
}
