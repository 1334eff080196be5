package server_test

import (
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/handoff"
)

// TestIdleControlClientDoesNotBlockShutdown holds a connection to ten.sock
// open without sending anything, as a stuck or hostile local client would,
// and checks that SIGTERM still ends the server well within its drain
// timeout (30s by default).
func TestIdleControlClientDoesNotBlockShutdown(t *testing.T) {
	e := newEnv(t, "[service.api]\ncommand = \"@APP@\"\n")
	s := e.startServer(t)
	conn, err := net.Dial("unix", filepath.Join(e.dataDir, handoff.SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A request on a second connection is answered only after the first
	// was accepted: the server now holds the idle one.
	if _, err := handoff.NewControlClient(e.dataDir).Status(t.Context()); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
		t.Logf("exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatalf("ten serve still running 10s after SIGTERM with an idle control client:\n%s", s.out.String())
	}
	if s.err != nil {
		t.Errorf("ten serve exit: %v\n%s", s.err, s.out.String())
	}
}
