package handoff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/internal/testbin"
)

// The test binary doubles as the child server: started as a testbin
// helper, it runs childMain instead of the tests.
func TestMain(m *testing.M) { os.Exit(testbin.MainWithHelper(m, childMain)) }

func childMain(mode string) int {
	in, err := Receive()
	if err != nil {
		fmt.Fprintln(os.Stderr, "receive:", err)
		return 3
	}
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "config error: cannot start")
		return 1
	case "hang":
		select {}
	}
	ln := in.HTTP()
	if ln == nil {
		fmt.Fprintln(os.Stderr, "no http listener")
		return 4
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "child %d systemd=%v parent=%d", os.Getpid(), in.FromSystemd, in.ParentPID)
	})}
	if err := in.Ready(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 5
	}
	_ = srv.Serve(ln)
	return 0
}

func get(t *testing.T, addr string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func childChild(t *testing.T, mode string, timeout time.Duration) Child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Child{
		Path:         exe,
		Env:          testbin.HelperEnviron(mode),
		Stdout:       io.Discard,
		Stderr:       io.Discard,
		ReadyTimeout: timeout,
	}
}

func TestStartHandsListenerToReadyChild(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	proc, err := Start(context.Background(), childChild(t, "serve", 10*time.Second), map[string]Filer{"http": ln.(*net.TCPListener)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-proc.Pid, syscall.SIGKILL) })

	// The parent stops accepting; every new connection must reach the child.
	ln.Close()
	body := get(t, ln.Addr().String())
	want := fmt.Sprintf("child %d systemd=false parent=%d", proc.Pid, os.Getpid())
	if body != want {
		t.Fatalf("got %q, want %q", body, want)
	}
}

func TestStartFailuresKeepParentServing(t *testing.T) {
	for _, tt := range []struct {
		mode    string
		timeout time.Duration
		want    string
	}{
		{"exit", 10 * time.Second, "config error: cannot start"},
		{"hang", 300 * time.Millisecond, "no ready signal within 300ms"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "parent") })}
			go srv.Serve(ln)
			defer srv.Close()

			_, err = Start(context.Background(), childChild(t, tt.mode, tt.timeout), map[string]Filer{"http": ln.(*net.TCPListener)})
			if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrNotReady mentioning %q", err, tt.want)
			}
			for i := 0; i < 20; i++ {
				if body := get(t, ln.Addr().String()); body != "parent" {
					t.Fatalf("request %d answered by %q, want the parent", i, body)
				}
			}
		})
	}
}

func TestReceiveSystemdSocketActivation(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // the child's copy of the socket keeps listening
	defer f.Close()

	exe, _ := os.Executable()
	// LISTEN_PID must name the process that reads it: sh's $$ survives exec.
	// Named after its unit, as systemd does without FileDescriptorName.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=tenement.socket exec "$0"`, exe)
	cmd.Env = testbin.HelperEnviron("serve")
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })

	body := get(t, ln.Addr().String())
	if want := fmt.Sprintf("child %d systemd=true", cmd.Process.Pid); !strings.HasPrefix(body, want) {
		t.Fatalf("got %q, want prefix %q", body, want)
	}
}

func TestNotifySendsReadyAndMainPID(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)

	read := func() string {
		buf := make([]byte, 512)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	if err := NotifyReady(4242); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "READY=1\nMAINPID=4242" {
		t.Fatalf("got %q", got)
	}
	if err := NotifyStopping(); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "STOPPING=1" {
		t.Fatalf("got %q", got)
	}

	t.Setenv("NOTIFY_SOCKET", "")
	if err := NotifyReady(1); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v", err)
	}
}

func TestSplitNames(t *testing.T) {
	for _, tt := range []struct {
		in    string
		count int
		want  string
	}{
		{"", 1, "http"},
		{"", 2, "http fd4"},
		{"api", 1, "api"},
		{"http:metrics", 2, "http metrics"},
		{"http", 2, "http fd4"},
	} {
		if got := strings.Join(splitNames(tt.in, tt.count), " "); got != tt.want {
			t.Errorf("splitNames(%q, %d) = %q, want %q", tt.in, tt.count, got, tt.want)
		}
	}
}
