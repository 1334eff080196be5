package orchestrator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tenement/ten/internal/proc"
)

// ServerProc names a `ten serve` process ten-upgrade started or replaced.
// Step outputs record it, so that a resumed or rolled-back upgrade finds
// (and never mistakes) the process from the journal alone.
type ServerProc struct {
	PID       int      `json:"pid"`
	StartTime int64    `json:"start_time"` // ms since the epoch
	Addr      string   `json:"addr"`
	Binary    string   `json:"binary,omitempty"`
	Args      []string `json:"args,omitempty"`
	Dir       string   `json:"dir,omitempty"`
	Nonce     string   `json:"nonce,omitempty"`
	Log       string   `json:"log,omitempty"`
}

// Alive reports whether the process is still the one recorded.
func (p *ServerProc) Alive() bool { return p != nil && proc.Same(p.PID, p.StartTime) }

// URL is the base URL of its HTTP server.
func (p *ServerProc) URL() string { return "http://" + dialAddr(p.Addr) }

// started is a server this ten-upgrade process started: it reaps the child
// while it lives, so that an exit is seen at once.
type started struct {
	ServerProc
	exited chan struct{}
	err    error
}

// startDetached starts a `ten serve` that outlives ten-upgrade: its own
// session, stdin from /dev/null, stdout and stderr appended to logPath.
func startDetached(bin string, args []string, dir string, env []string, logPath string) (*started, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	fmt.Fprintf(logf, "--- ten-upgrade %s: %s %v\n", time.Now().UTC().Format(time.RFC3339), bin, args)

	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = devnull
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &started{exited: make(chan struct{})}
	s.PID = cmd.Process.Pid
	s.Binary, s.Args, s.Dir, s.Log = bin, args, dir, logPath
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	if st, err := proc.StartTime(s.PID); err == nil {
		s.StartTime = st
	}
	return s, nil
}

// stopProcess sends SIGTERM to the recorded process and waits until it has
// exited, escalating to SIGKILL after timeout. A pid that no longer names
// the recorded process is left alone.
func stopProcess(ctx context.Context, p ServerProc, timeout time.Duration) error {
	if !p.Alive() {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal pid %d: %w", p.PID, err)
	}
	if waitExit(ctx, p, timeout) {
		return nil
	}
	if p.Alive() {
		syscall.Kill(p.PID, syscall.SIGKILL)
	}
	if waitExit(ctx, p, 10*time.Second) {
		return fmt.Errorf("pid %d did not exit within %s of SIGTERM; killed", p.PID, timeout)
	}
	return fmt.Errorf("pid %d does not exit", p.PID)
}

// waitExit polls until p has exited or timeout passes.
func waitExit(ctx context.Context, p ServerProc, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for p.Alive() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// newNonce is a random health nonce.
func newNonce() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// findByExe lists the live processes running the executable at path,
// also after path was renamed or replaced.
func findByExe(path string) []ServerProc {
	ids, _ := proc.FindByExe(path) // none found without procfs
	return serverProcs(ids, ServerProc{Binary: path})
}

// serverProcs turns the processes found into records like the template.
func serverProcs(ids []proc.ID, template ServerProc) []ServerProc {
	var out []ServerProc
	for _, id := range ids {
		p := template
		p.PID, p.StartTime = id.PID, id.StartTime
		out = append(out, p)
	}
	return out
}

// Port is the TCP port of Addr; 0 if unknown.
func (p *ServerProc) Port() int {
	_, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// findByNonce lists the live processes whose environment holds nonce: the
// servers this upgrade started, found again after a crash.
func findByNonce(nonce string) []ServerProc {
	if nonce == "" {
		return nil
	}
	ids, _ := proc.FindByEnv(envHealthNonce + "=" + nonce) // none found without procfs
	return serverProcs(ids, ServerProc{Nonce: nonce})
}
