package server_test

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/scaffold"
)

// fakeSystemd is the notify socket of a Type=notify service with
// NotifyAccess=main, as systemd implements it: each datagram carries the
// sender's pid (SCM_CREDENTIALS), and only the current main process may
// report; MAINPID= from it moves the main process.
type fakeSystemd struct {
	path string
	conn *net.UnixConn

	mu       sync.Mutex
	main     int
	ready    bool
	rejected []string
}

func newFakeSystemd(t *testing.T, dir string) *fakeSystemd {
	t.Helper()
	f := &fakeSystemd{path: filepath.Join(dir, "notify.sock")}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: f.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.conn = c
	t.Cleanup(func() { c.Close() })
	go f.serve()
	return f
}

func (f *fakeSystemd) serve() {
	buf := make([]byte, 4096)
	oob := make([]byte, syscall.CmsgSpace(syscall.SizeofUcred))
	for {
		n, oobn, _, _, err := f.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		sender := 0
		if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) > 0 {
			if cred, err := syscall.ParseUnixCredentials(&msgs[0]); err == nil {
				sender = int(cred.Pid)
			}
		}
		msg := string(buf[:n])
		f.mu.Lock()
		if f.main != 0 && sender != f.main {
			f.rejected = append(f.rejected, strconv.Itoa(sender)+": "+msg)
			f.mu.Unlock()
			continue
		}
		for line := range strings.Lines(msg) {
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "MAINPID="); ok {
				f.main, _ = strconv.Atoi(v)
			}
			if line == "READY=1" {
				f.ready = true
			}
		}
		f.mu.Unlock()
	}
}

func (f *fakeSystemd) state() (main int, ready bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.main, f.ready
}

// TestInstalledUnitReloadHandsOver runs the reload path of the unit that
// `ten install` writes, for real: ten under a NotifyAccess=main notify
// socket, the unit's own ExecReload command line with $MAINPID expanded.
// The new binary must take over the listening socket and become the main
// process in systemd's eyes; otherwise systemd would take the old server's
// exit for the service's death and restart it, killing the new one.
func TestInstalledUnitReloadHandsOver(t *testing.T) {
	e := newEnv(t, "[service.api]\ncommand = \"@APP@\"\n[service.api.env]\nTESTAPP_NAME = \"{id}\"\n")
	sd := newFakeSystemd(t, e.dir)
	e.serverEnv = []string{"NOTIFY_SOCKET=" + sd.path}
	s := e.startServer(t)
	oldPID := s.cmd.Process.Pid
	sd.mu.Lock()
	sd.main = oldPID // systemd's main pid is the process it started
	sd.mu.Unlock()

	unit := scaffold.SystemdUnit(scaffold.Unit{Domain: "localhost", Port: 8080})
	var reload string
	for line := range strings.Lines(unit) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecReload="); ok {
			reload = v
		}
	}
	if reload == "" || !strings.Contains(unit, "NotifyAccess=main") {
		t.Fatalf("unit has no ExecReload or is not NotifyAccess=main:\n%s", unit)
	}
	argv := strings.Fields(strings.ReplaceAll(reload, "$MAINPID", strconv.Itoa(oldPID)))
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("ExecReload %q: %v\n%s", argv, err, out)
	}

	var newPID int
	waitFor(t, "systemd's main pid to move to the new server", 30*time.Second, func() bool {
		main, _ := sd.state()
		newPID = main
		return main != oldPID
	})
	if newPID <= 0 {
		t.Fatalf("main pid moved to %d", newPID)
	}
	// The old process exits (its output pipe stays open: the new server
	// inherited it).
	waitGone(t, oldPID, 30*time.Second)
	var h api.Health
	if code := s.getJSON(t, "/health", "", &h); code != 200 || h.PID != newPID {
		t.Errorf("/health on the same address: %d pid %d; want the new main pid %d", code, h.PID, newPID)
	}
	sd.mu.Lock()
	rejected := append([]string(nil), sd.rejected...)
	sd.mu.Unlock()
	t.Logf("notifications refused as from a non-main process: %q", rejected)

	syscall.Kill(newPID, syscall.SIGTERM)
	waitGone(t, newPID, 30*time.Second)
}
