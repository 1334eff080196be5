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

// drainTest is a server with the drain's connection handling and one
// raw keep-alive client connection to it.
type drainTest struct {
	s    *server
	conn net.Conn
	br   *bufio.Reader
}

func newDrainTest(t *testing.T) *drainTest {
	t.Helper()
	conns := newClientConns()
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
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	d := &drainTest{s: &server{http: srv, ln: ln, conns: conns}, conn: c, br: bufio.NewReader(c)}
	if resp, err := d.get(); err != nil || resp.Close {
		t.Fatalf("before the drain: %v, close=%v; want a kept-alive answer", err, resp != nil && resp.Close)
	}
	return d
}

func (d *drainTest) get() (*http.Response, error) {
	if _, err := fmt.Fprintf(d.conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(d.br, nil)
	if err != nil {
		return nil, err
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, nil
}

// When a drain begins, a keep-alive connection that is idle stays open,
// so a request its client sends at that moment is answered (with
// "Connection: close") instead of failing on a closed connection.
func TestDrainAnswersTheRequestOnAnIdleConnection(t *testing.T) {
	d := newDrainTest(t)
	defer d.s.stopAccepting()()

	resp, err := d.get()
	if err != nil {
		t.Fatalf("a request on an idle keep-alive connection as the drain began: %v", err)
	}
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("answer during the drain: %d, close=%v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if _, err := d.br.ReadByte(); err != io.EOF {
		t.Errorf("after the Connection: close answer the server must close the connection; read: %v", err)
	}
}

// A connection nobody sends on is closed once it has been quiet, not
// kept until the grace period ends: the old server of a handoff exits
// soon after its clients have moved on.
func TestDrainClosesQuietConnections(t *testing.T) {
	d := newDrainTest(t)
	defer d.s.stopAccepting()()

	done := make(chan struct{})
	go func() {
		defer close(done)
		d.s.conns.settle(10*time.Millisecond, time.Hour)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a quiet connection was kept open (settle returned only at the end of its grace period)")
	}
	if _, err := d.br.ReadByte(); err == nil {
		t.Error("the quiet connection is still open")
	}
	if n := d.s.conns.open(); n != 0 {
		t.Errorf("%d connections still counted open", n)
	}
}
