package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tenement/ten/runtime/config"
)

// TestStartRetriesWhenPortIsTakenMeanwhile makes another process take the
// tenant's allocated port before the tenant binds it (as an outgoing
// connection from the ephemeral range can): the start must succeed on
// another port instead of failing.
func TestStartRetriesWhenPortIsTakenMeanwhile(t *testing.T) {
	bin := testapp(t)
	dir := t.TempDir()
	mark, ready, holderPID := filepath.Join(dir, "mark"), filepath.Join(dir, "ready"), filepath.Join(dir, "holder.pid")
	// First run: start a port holder in its own session (it outlives the
	// tenant's process group), wait until it listens, then fail as a
	// tenant that lost its port does. Later runs: the real app.
	script := `if [ ! -e "$MARK" ]; then
  touch "$MARK"
  setsid python3 -c 'import socket,sys,time,os
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
open(sys.argv[3],"w").write(str(os.getpid())); open(sys.argv[2],"w").write("x")
time.sleep(120)' "$PORT" "$READY" "$HOLDER" &
  while [ ! -e "$READY" ]; do sleep 0.02; done
  echo "bind: address already in use" >&2
  exit 1
fi
exec "$APP"`
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService("/bin/sh", func(s *config.Service) {
			s.Args = []string{"-c", script}
			s.Env["MARK"], s.Env["READY"], s.Env["HOLDER"], s.Env["APP"] = mark, ready, holderPID, bin
		})
	})
	t.Cleanup(func() {
		if b, err := os.ReadFile(holderPID); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	in, err := e.s.Spawn(context.Background(), "web", "a")
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	if _, err := os.Stat(ready); err != nil {
		t.Fatal("the first attempt did not run: the test proves nothing")
	}
	if canBind(in.Port) {
		t.Fatalf("instance reports port %d but nothing listens there", in.Port)
	}
	if in.State != StateRunning {
		t.Fatalf("state %s", in.State)
	}
}
