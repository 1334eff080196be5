package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestDrainLeavesIdleConnectionsOneLastRequest: when a drain begins, a
// keep-alive connection that is idle stays open, so a request its client
// sends at that moment is answered (with "Connection: close") instead of
// failing on a closed connection.
func TestDrainLeavesIdleConnectionsOneLastRequest(t *testing.T) {
	conns := &connCount{}
	srv := &http.Server{
		ConnState: conns.track,
		Handler:   conns.closeWhenDraining(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	get := func() (*http.Response, error) {
		if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, err
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, nil
	}
	if resp, err := get(); err != nil || resp.Close {
		t.Fatalf("before the drain: %v, close=%v; want a kept-alive answer", err, resp != nil && resp.Close)
	}

	s := &server{http: srv, ln: ln, conns: conns}
	stopWaking := s.stopAccepting()
	defer stopWaking()

	resp, err := get()
	if err != nil {
		t.Fatalf("a request on an idle keep-alive connection as the drain began: %v", err)
	}
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("answer during the drain: %d, close=%v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the Connection: close answer the server must close the connection; read: %v", err)
	}
}
