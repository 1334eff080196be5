package handoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Filer is a listener whose socket can be duplicated into a file, as
// *net.TCPListener and *net.UnixListener can.
type Filer interface {
	File() (*os.File, error)
}

// Child is the new server a running one hands its sockets to.
type Child struct {
	Path string
	Args []string
	// Env is the child's environment; nil means this process's.
	Env []string
	// Stdout and Stderr receive the child's output; nil means ours.
	Stdout, Stderr io.Writer
	// ReadyTimeout bounds the wait for the child's ready signal.
	ReadyTimeout time.Duration
}

// ErrNotReady is wrapped by Start when the child exits or times out before
// it reports ready. The child has been killed by then.
var ErrNotReady = errors.New("new server did not become ready")

// Start launches c with listeners inherited as descriptors 3, 4, ... and
// waits until it reports ready over a pipe. On success the child keeps
// running on its own; on any failure it is killed and reaped, and the caller
// still owns its listeners untouched, so it can go on serving as if nothing
// happened.
func Start(ctx context.Context, c Child, listeners map[string]Filer) (*os.Process, error) {
	names := make([]string, 0, len(listeners))
	for name := range listeners {
		names = append(names, name)
	}
	sort.Strings(names)

	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, name := range names {
		f, err := listeners[name].File()
		if err != nil {
			return nil, fmt.Errorf("handoff: duplicate listener %s: %w", name, err)
		}
		files = append(files, f)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("handoff: ready pipe: %w", err)
	}
	defer readyR.Close()
	files = append(files, readyW) // closed by the deferred loop once the child has it

	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	env = append(withoutHandoffEnv(env),
		envListenFDs+"="+strconv.Itoa(len(names)),
		envListenNames+"="+strings.Join(names, ":"),
		envReadyFD+"="+strconv.Itoa(listenFDsStart+len(names)),
		envParentPID+"="+strconv.Itoa(os.Getpid()),
	)
	// Until it is ready the child's stderr is a pipe to us, so that a
	// failure can be explained with its last words. That pipe dies with
	// this process, and a Go program whose stderr is a broken pipe is
	// killed by SIGPIPE at its next log line: so the child also gets our
	// real stderr, and moves its own stderr onto it once it is ready.
	if f, ok := orDefault(c.Stderr, os.Stderr).(*os.File); ok {
		dup, err := dupFile(f)
		if err != nil {
			return nil, fmt.Errorf("handoff: duplicate stderr: %w", err)
		}
		files = append(files, dup)
		env = append(env, envStderrFD+"="+strconv.Itoa(listenFDsStart+len(names)+1))
	}

	tail := &tailBuffer{max: 2048}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = env
	cmd.ExtraFiles = files
	cmd.Stdout = orDefault(c.Stdout, os.Stdout)
	cmd.Stderr = io.MultiWriter(orDefault(c.Stderr, os.Stderr), tail)
	// Its own process group: a terminal's Ctrl-C or a kill of the old
	// server's group must not take the successor down with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	// Passing a descriptor to a child makes os/exec switch it to blocking
	// mode, and that flag lives in the socket shared with our own listener:
	// left so, our accept loop would block in the kernel and Close would
	// hang. Switch it back at once, whatever happens next.
	for _, name := range names {
		restoreNonblock(listeners[name])
	}
	if err != nil {
		return nil, fmt.Errorf("handoff: start %s: %w", c.Path, err)
	}
	readyW.Close() // only the child holds the write end now; EOF means it died

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ready := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := readyR.Read(b[:])
		ready <- err
	}()

	timeout := c.ReadyTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()

	var cause error
	reaped := false
	select {
	case err := <-ready:
		if err == nil {
			return cmd.Process, nil
		}
		// EOF without a byte: the child closed the pipe, almost always by
		// exiting; let Wait tell us how.
		select {
		case werr := <-exited:
			cause, reaped = exitCause(werr), true
		case <-time.After(time.Second):
			cause = errors.New("closed its ready pipe without signalling")
		}
	case werr := <-exited:
		cause, reaped = exitCause(werr), true
	case <-timer.C:
		cause = fmt.Errorf("no ready signal within %s", timeout)
	case <-ctx.Done():
		cause = ctx.Err()
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if !reaped {
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
	}
	if last := tail.lastLine(); last != "" {
		cause = fmt.Errorf("%w; last output: %s", cause, last)
	}
	return nil, fmt.Errorf("handoff to %s: %w: %w", c.Path, ErrNotReady, cause)
}

func restoreNonblock(l Filer) {
	sc, ok := l.(syscall.Conn)
	if !ok {
		return
	}
	if rc, err := sc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { syscall.SetNonblock(int(fd), true) })
	}
}

func exitCause(err error) error {
	if err == nil {
		return errors.New("exited with status 0 before it was ready")
	}
	return fmt.Errorf("exited before it was ready: %w", err)
}

// dupFile returns a new *os.File on a duplicate of f's descriptor.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), f.Name()), nil
}

func withoutHandoffEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		switch strings.SplitN(kv, "=", 2)[0] {
		case envListenFDs, envListenNames, envReadyFD, envParentPID, envStderrFD, "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func orDefault(w io.Writer, def io.Writer) io.Writer {
	if w == nil {
		return def
	}
	return w
}

// tailBuffer keeps the last bytes a child wrote, to explain its failure.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := bytes.Split(bytes.TrimSpace(t.buf), []byte("\n"))
	return string(lines[len(lines)-1])
}
