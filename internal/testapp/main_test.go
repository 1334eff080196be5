package main_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	tensite "github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/internal/testbin"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

type app struct {
	cmd    *exec.Cmd
	base   string
	stdout *os.File
	stderr *os.File
	done   chan error
}

func start(t *testing.T, env ...string) *app {
	t.Helper()
	bin := testbin.Build(t, "github.com/tenement/ten/internal/testapp")
	dir := t.TempDir()
	port := testbin.FreePorts(t, 1)[0]
	a := &app{base: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan error, 1)}
	var err error
	if a.stdout, err = os.Create(filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	if a.stderr, err = os.Create(filepath.Join(dir, "err")); err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(bin)
	a.cmd.Env = append(os.Environ(), append([]string{"PORT=" + strconv.Itoa(port)}, env...)...)
	a.cmd.Stdout, a.cmd.Stderr = a.stdout, a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() { a.cmd.Process.Kill(); <-a.done })
	tensite.WaitFor(t, "testapp to listen", 10*time.Second, func() bool {
		resp, err := http.Get(a.base + "/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return a
}

func (a *app) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(a.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	unhealthy := filepath.Join(t.TempDir(), "unhealthy")
	a := start(t, "TESTAPP_NAME=web-alice", "TESTAPP_UNHEALTHY_FILE="+unhealthy)

	if code, body := a.get(t, "/health"); code != 200 || body != "ok\n" {
		t.Fatalf("/health = %d %q", code, body)
	}
	os.WriteFile(unhealthy, nil, 0o600)
	if code, _ := a.get(t, "/health"); code != 503 {
		t.Fatalf("/health with the flag file = %d", code)
	}
	os.Remove(unhealthy)

	req, _ := http.NewRequest("GET", a.base+"/some/path?x=1", nil)
	req.Header.Set("X-Test", "yes")
	req.Host = "alice.web.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		PID     int                 `json:"pid"`
		Name    string              `json:"name"`
		Path    string              `json:"path"`
		Query   string              `json:"query"`
		Host    string              `json:"host"`
		Headers map[string][]string `json:"headers"`
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info.PID != a.cmd.Process.Pid || info.Name != "web-alice" || info.Path != "/some/path" ||
		info.Query != "x=1" || info.Host != "alice.web.example.com" || info.Headers["X-Test"][0] != "yes" {
		t.Fatalf("/ = %+v", info)
	}

	resp, err = http.Post(a.base+"/echo", "text/plain", strings.NewReader("round trip"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "round trip" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("/echo = %q %q", b, resp.Header.Get("Content-Type"))
	}

	start := time.Now()
	if code, _ := a.get(t, "/slow?ms=100"); code != 200 || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("/slow = %d after %s", code, time.Since(start))
	}

	// SSE: each event arrives on its own, before the stream ends.
	resp, err = http.Get(a.base + "/sse?n=3&interval=200ms")
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	line, _ := r.ReadString('\n')
	if line != "data: 0\n" {
		t.Fatalf("first event %q", line)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("first event not flushed")
	}
	rest, _ := io.ReadAll(r)
	resp.Body.Close()
	if string(rest) != "\ndata: 1\n\ndata: 2\n\n" {
		t.Fatalf("rest of stream %q", rest)
	}

	out, _ := os.ReadFile(a.stdout.Name())
	if !strings.Contains(string(out), "request GET /some/path?x=1 host=alice.web.example.com") {
		t.Errorf("stdout %q", out)
	}
	errOut, _ := os.ReadFile(a.stderr.Name())
	if !strings.Contains(string(errOut), "testapp starting pid=") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestCrashAndExit(t *testing.T) {
	a := start(t)
	if code, _ := a.get(t, "/crash"); code != 200 {
		t.Fatalf("/crash = %d", code)
	}
	if ee, ok := a.exited(t).(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v", a.exited(t))
	}

	b := start(t)
	b.get(t, "/exit?code=0")
	if err := b.exited(t); err != nil {
		t.Fatalf("exit code 0: %v", err)
	}
}

// exited waits until the app exits and returns how (again on every call).
func (a *app) exited(t *testing.T) error {
	t.Helper()
	select {
	case err := <-a.done:
		a.done <- err
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit")
		return nil
	}
}

func TestIgnoreTermAndPidfile(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	a := start(t, "TESTAPP_IGNORE_TERM=1", "TESTAPP_PIDFILE="+pidfile)
	b, err := os.ReadFile(pidfile)
	if err != nil || string(b) != strconv.Itoa(a.cmd.Process.Pid) {
		t.Fatalf("pidfile %q %v", b, err)
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		t.Fatal("exited on SIGTERM")
	case <-time.After(300 * time.Millisecond):
	}
	if code, _ := a.get(t, "/health"); code != 200 {
		t.Fatal("not serving after SIGTERM")
	}
}
