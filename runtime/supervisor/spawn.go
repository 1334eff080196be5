package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/logs"
)

// launch starts a process for in: a port, the data directory, the log
// files as its stdout and stderr, its own process group. It does not wait
// for readiness.
func (s *Supervisor) launch(ctx context.Context, in *inst) (*process, error) {
	svc := in.svc
	if err := checkIsolation(svc.Isolation); err != nil {
		return nil, err
	}

	dir := s.instanceDir(in.key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	files := logs.FilesFor(s.dataDir, in.service, in.id)
	// The previous process is gone: index what it left, including a last
	// line without a newline (a panic, say), before a new writer appends.
	if err := s.indexer.UnwatchFiles(ctx, files); err != nil {
		s.log.Warn("final log index", "instance", in.key.String(), "err", err)
	}
	stdout, stderr, err := openLogs(files)
	if err != nil {
		return nil, err
	}
	// The child has its own copies; ours are only needed until Start.
	defer stdout.Close()
	defer stderr.Close()

	port, err := s.allocPort(ctx, in.key, svc.Port)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.mu.Lock()
			s.releasePortLocked(port, in.key)
			s.mu.Unlock()
		}
	}()

	vars := config.Vars{Name: in.service, ID: in.id, DataDir: s.dataDir, Port: port}
	cmd, err := s.tenantCommand(svc, vars)
	if err != nil {
		return nil, err
	}
	command := cmd.Path
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	// Its own process group, so that stopping it reaches its children and a
	// Ctrl-C aimed at the server does not reach the tenants.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := applyIsolation(cmd.SysProcAttr, svc.Isolation); err != nil {
		return nil, err
	}
	if err := s.runAs(cmd.SysProcAttr, svc, in.service, dir); err != nil {
		return nil, err
	}
	group, started, err := s.enforceLimits(in, cmd)
	if err != nil {
		return nil, err
	}
	err = cmd.Start()
	started(err == nil)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", command, err)
	}

	p := &process{pid: cmd.Process.Pid, port: port, done: make(chan struct{}), cgroup: group}
	p.startTime, err = proc.StartTime(p.pid)
	if err != nil {
		// It died at once; Wait below reports how.
		s.log.Debug("process start time", "pid", p.pid, "err", err)
	}
	go func() {
		st, err := cmd.Process.Wait()
		if err == nil && !st.Success() {
			err = exitError(st)
		}
		// Reap stragglers the tenant left in its group (a shell's
		// background jobs), so that they do not hold its port.
		killGroup(p.pid, syscall.SIGKILL)
		p.exitErr = s.afterExit(in, p, st, err)
		p.markExited()
		s.onExit(in, p)
	}()

	s.mu.Lock()
	in.proc = p
	in.logPath = files.Stdout
	s.mu.Unlock()
	s.indexer.WatchFiles(in.service, in.id, files)
	if perr := s.persist(ctx, in); perr != nil {
		s.log.Warn("record instance state", "instance", in.key.String(), "err", perr)
	}
	s.log.Info("spawned", "instance", in.key.String(), "pid", p.pid, "port", port, "command", command)
	ok = true
	return p, nil
}

func exitError(st *os.ProcessState) error {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Errorf("killed by signal %v", ws.Signal())
	}
	return fmt.Errorf("exited with status %d", st.ExitCode())
}

// openLogs opens the instance's log files for appending; they are handed
// to the child as fds 1 and 2, so the tenant keeps its output when the
// server goes away.
func openLogs(f logs.Files) (stdout, stderr *os.File, err error) {
	if err := os.MkdirAll(filepath.Dir(f.Stdout), 0o700); err != nil {
		return nil, nil, fmt.Errorf("create log dir: %w", err)
	}
	stdout, err = os.OpenFile(f.Stdout, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open log: %w", err)
	}
	stderr, err = os.OpenFile(f.Stderr, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		stdout.Close()
		return nil, nil, fmt.Errorf("open log: %w", err)
	}
	return stdout, stderr, nil
}

// probeClient makes health requests: no keep-alive, so that probes never
// reuse a connection to a process that has since been replaced.
var probeClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// waitReady polls p until its port accepts a connection, within the
// service's startup_timeout. The health path is not part of readiness: as
// in tenement, whose spawn waits only for the port (hypervisor.rs
// spawn_with_env, "TCP mode: try to connect"), a tenant whose /health
// answers 500 is up, and the health checks that follow (startupHealth, then
// the health loop) mark it unhealthy and let the restart policy act.
func (s *Supervisor) waitReady(ctx context.Context, in *inst, p *process) error {
	timeout := time.Duration(max(in.svc.StartupTimeout, 1)) * time.Second
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	delay := 5 * time.Millisecond
	for {
		if p.exited() {
			return fmt.Errorf("exited during startup (%v)%s", p.exitErr, s.stderrTail(in))
		}
		err := s.connect(pctx, p)
		if err == nil {
			return nil
		}
		if pctx.Err() == nil || last == nil {
			last = err // not the probe the deadline cut short: that says less
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited during startup (%v)%s", p.exitErr, s.stderrTail(in))
		case <-pctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("not ready within startup_timeout %s: %v%s", timeout, last, s.stderrTail(in))
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// connect checks once that p's port accepts a TCP connection.
func (s *Supervisor) connect(ctx context.Context, p *process) error {
	// A connect to localhost is immediate or refused; one that hangs (a
	// full accept queue) should not use up a whole startup timeout.
	addr := p.addr()
	d := net.Dialer{Timeout: min(s.opts.HealthTimeout, time.Second)}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect %s: %w", addr, err)
	}
	c.Close()
	return nil
}

// probe checks p once: TCP connect, then GET of the health path (if any)
// must answer 2xx.
func (s *Supervisor) probe(ctx context.Context, svc *config.Service, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.HealthTimeout)
	defer cancel()
	if err := s.connect(ctx, p); err != nil {
		return err
	}
	if svc.Health == "" {
		return nil
	}
	addr := p.addr()
	path := svc.Health
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return fmt.Errorf("health request: %w", err)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return fmt.Errorf("health %s: %w", path, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("health %s: status %d", path, resp.StatusCode)
	}
	return nil
}

// stderrTail returns the last lines of the instance's stderr log, to make
// a failed start self-explanatory.
func (s *Supervisor) stderrTail(in *inst) string {
	f, err := os.Open(logs.FilesFor(s.dataDir, in.service, in.id).Stderr)
	if err != nil {
		return ""
	}
	defer f.Close()
	const n = 2048
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if off > 0 && len(lines) > 1 {
		lines = lines[1:] // the first is cut
	}
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	tail := strings.TrimSpace(strings.Join(lines, "\n"))
	if tail == "" {
		return ""
	}
	return "; stderr: " + string(bytes.ToValidUTF8([]byte(tail), []byte("?")))
}
