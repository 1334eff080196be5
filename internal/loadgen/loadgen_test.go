package loadgen

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// targets are a server that answers 200, one that answers status, and an
// address that refuses connections.
func targets(t *testing.T, status int) (ok, bad, refused string) {
	okSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	t.Cleanup(okSrv.Close)
	badSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", status) }))
	t.Cleanup(badSrv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused = "http://" + ln.Addr().String()
	ln.Close()
	return okSrv.URL, badSrv.URL, refused
}

func TestCountsFailuresAndFailsOver(t *testing.T) {
	ok, bad, refused := targets(t, 502)

	run := func(urls ...string) *Result {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return Run(ctx, Options{URLs: urls, Workers: 2, Interval: 5 * time.Millisecond})
	}
	if r := run(ok); r.Sent == 0 || r.Failed != 0 {
		t.Fatalf("healthy target: %v", r)
	}
	if r := run(refused, ok); r.Sent == 0 || r.Failed != 0 {
		t.Fatalf("fail-over from a refused port: %v", r)
	}
	if r := run(bad, ok); r.Failed != r.Sent || r.ByKind["5xx"] != r.Sent {
		t.Fatalf("a 502 must count as failed and not fail over: %v", r)
	}
	if r := run(refused); r.Failed != r.Sent || r.ByKind["refused"] != r.Sent {
		t.Fatalf("refused target: %v", r)
	}
}
