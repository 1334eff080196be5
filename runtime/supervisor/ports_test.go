package supervisor

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/tenement/ten/runtime/config"
)

// freeRange finds n consecutive bindable ports.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		lo, _ := randomPorts()
		lo += 400
		ok := true
		for p := lo; p < lo+n; p++ {
			if !canBind(p) {
				ok = false
				break
			}
		}
		if ok {
			return lo
		}
	}
	t.Fatal("no free port range")
	return 0
}

func TestAllocPortSkipsBusyAndRecordedPorts(t *testing.T) {
	lo := freeRange(t, 4)
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		o.PortMin, o.PortMax = lo, lo+3
	})
	ctx := context.Background()
	e.s.mu.Lock()
	e.s.next = lo // the search starts at a random place; pin it
	e.s.mu.Unlock()
	// lo is taken by a foreign listener, lo+1 by another server's live
	// tenant recorded in the database.
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(lo))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := e.db.Exec(`INSERT INTO instance_state (process, instance_id, port, pid, status, updated_at, owner)
		VALUES ('other', 'x', ?, 12345, 'running', 'now', 'other-server')`, lo+1); err != nil {
		t.Fatal(err)
	}
	// An idle row's port is free for reuse.
	if _, err := e.db.Exec(`INSERT INTO instance_state (process, instance_id, port, pid, status, updated_at)
		VALUES ('other', 'y', ?, 0, 'idle', 'now')`, lo+2); err != nil {
		t.Fatal(err)
	}
	a, err := e.s.allocPort(ctx, key{"s", "a"}, 0)
	if err != nil || a != lo+2 {
		t.Fatalf("first port %d %v, want %d", a, err, lo+2)
	}
	b, err := e.s.allocPort(ctx, key{"s", "b"}, 0)
	if err != nil || b != lo+3 {
		t.Fatalf("second port %d %v, want %d", b, err, lo+3)
	}
	if _, err := e.s.allocPort(ctx, key{"s", "c"}, 0); err == nil || !strings.Contains(err.Error(), "no free port") {
		t.Fatalf("exhausted range: %v", err)
	}
	e.s.mu.Lock()
	e.s.releasePortLocked(a, key{"s", "other"}) // not the holder: no effect
	e.s.releasePortLocked(a, key{"s", "a"})
	e.s.mu.Unlock()
	c, err := e.s.allocPort(ctx, key{"s", "c"}, 0)
	if err != nil || c != a {
		t.Fatalf("after release %d %v, want %d", c, err, a)
	}
	// A fixed port is used as is, if it is free.
	if _, err := e.s.allocPort(ctx, key{"s", "d"}, lo); err == nil {
		t.Fatal("busy fixed port allocated")
	}
}

// TestPortTaken: a tenant that lost its port is retried on another even
// when the holder let go before the supervisor looked, as long as the
// tenant said why it died.
func TestPortTaken(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()
	for _, tc := range []struct {
		name   string
		port   int
		stderr string
		want   bool
	}{
		{"still held", heldPort, "", true},
		{"go, holder gone", freePort, "; stderr: listen tcp 127.0.0.1:1: bind: address already in use", true},
		{"python, holder gone", freePort, "; stderr: OSError: [Errno 98] Address already in use", true},
		{"node, holder gone", freePort, "; stderr: Error: listen EADDRINUSE: address already in use", true},
		{"died of something else", freePort, "; stderr: panic: boom", false},
		{"died silently", freePort, "", false},
	} {
		if got := portTaken(tc.port, tc.stderr); got != tc.want {
			t.Errorf("%s: portTaken = %v, want %v", tc.name, got, tc.want)
		}
	}
}
