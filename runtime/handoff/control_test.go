package handoff

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fakeHandler struct {
	status   Status
	upgraded []string
	fail     error
}

func (f *fakeHandler) Status(context.Context) (Status, error) { return f.status, f.fail }
func (f *fakeHandler) Handoff(context.Context) error          { return f.fail }
func (f *fakeHandler) Upgrade(_ context.Context, bin string, args []string) (UpgradeResult, error) {
	f.upgraded = append(f.upgraded, bin+" "+strings.Join(args, " "))
	return UpgradeResult{NewPID: 99}, f.fail
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestControlRoundTrip(t *testing.T) {
	dir := t.TempDir()
	h := &fakeHandler{status: Status{PID: 7, Version: "1.2.3", Capabilities: []string{"handoff"}}}
	srv, err := ListenControl(dir, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	fi, err := os.Stat(filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("socket mode %o, want 600", perm)
	}

	c := NewControlClient(dir)
	st, err := c.Status(ctx(t))
	if err != nil || st.PID != 7 || st.Version != "1.2.3" || st.Capabilities[0] != "handoff" {
		t.Fatalf("status = %+v, %v", st, err)
	}
	res, err := c.Upgrade(ctx(t), "/usr/bin/ten", []string{"serve", "--port", "8080"})
	if err != nil || res.NewPID != 99 || h.upgraded[0] != "/usr/bin/ten serve --port 8080" {
		t.Fatalf("upgrade = %+v, %v, %v", res, err, h.upgraded)
	}
	if err := c.Handoff(ctx(t)); err != nil {
		t.Fatal(err)
	}

	h.fail = errors.New("new server did not become ready: exited")
	if _, err := c.Upgrade(ctx(t), "/bad", nil); err == nil || !strings.Contains(err.Error(), "did not become ready") {
		t.Fatalf("failed upgrade error = %v", err)
	}
	if _, err := c.Upgrade(ctx(t), "", nil); err == nil || !strings.Contains(err.Error(), "needs a binary") {
		t.Fatalf("empty binary error = %v", err)
	}
}

// listenOldAndNew starts the control socket of an older server (pid 1)
// and then that of a newer one (pid 2) over one data directory, as an
// upgrade does.
func listenOldAndNew(t *testing.T) (dir string, old, newer *ControlServer) {
	t.Helper()
	dir = t.TempDir()
	old, err := ListenControl(dir, &fakeHandler{status: Status{PID: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Close() })
	newer, err = ListenControl(dir, &fakeHandler{status: Status{PID: 2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { newer.Close() })
	return dir, old, newer
}

func TestControlNewestServerOwnsSocket(t *testing.T) {
	dir, old, newer := listenOldAndNew(t)

	c := NewControlClient(dir)
	if st, err := c.Status(ctx(t)); err != nil || st.PID != 2 {
		t.Fatalf("status = %+v, %v; want the newer server", st, err)
	}
	// The old server draining and exiting must not unlink the new socket.
	old.Close()
	if st, err := c.Status(ctx(t)); err != nil || st.PID != 2 {
		t.Fatalf("after old closed: %+v, %v", st, err)
	}
	newer.Close()
	if _, err := c.Status(ctx(t)); !errors.Is(err, ErrNoServer) {
		t.Fatalf("after all closed: err = %v, want ErrNoServer", err)
	}
}

func TestControlOlderServerTakesNameBack(t *testing.T) {
	dir, _, newer := listenOldAndNew(t)
	// The newer server exits first (an upgrade rolled back): the older one
	// must become reachable again.
	newer.Close()
	c := NewControlClient(dir)
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := c.Status(ctx(t))
		if err == nil && st.PID == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("older server not reachable after the newer one left: %+v, %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An idle client (connected, never sending) must not keep Close waiting:
// Close runs at shutdown, which would never finish.
func TestControlCloseDoesNotWaitForIdleClient(t *testing.T) {
	dir := t.TempDir()
	srv, err := ListenControl(dir, &fakeHandler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The server has accepted it once a request on another connection is
	// answered (accepts are in order).
	if _, err := NewControlClient(dir).Status(ctx(t)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close still waits for an idle client after 5s")
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(conn); err != nil || len(b) != 0 {
		t.Errorf("idle client read %q, %v; want its connection closed", b, err)
	}
}
