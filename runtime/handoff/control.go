package handoff

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// SocketName is the control socket's file name inside the data directory.
const SocketName = "ten.sock"

// Status is what a server reports about itself over the control socket.
type Status struct {
	PID           int       `json:"pid"`
	ProcStartTime int64     `json:"proc_start_time"` // ms; with PID, names the process uniquely
	ServerID      string    `json:"server_id"`
	Version       string    `json:"version"`
	SchemaVersion int       `json:"schema_version"`
	Executable    string    `json:"executable"`
	Addr          string    `json:"addr"`
	DataDir       string    `json:"data_dir"`
	Supervisor    bool      `json:"supervisor"` // holds the supervisor lease
	Capabilities  []string  `json:"capabilities"`
	StartedAt     time.Time `json:"started_at"`
}

// UpgradeResult reports a completed listener handoff.
type UpgradeResult struct {
	NewPID int `json:"new_pid"`
}

// Handler carries out control requests inside the server.
type Handler interface {
	Status(ctx context.Context) (Status, error)
	// Handoff gives the supervisor lease to a live successor and drains.
	Handoff(ctx context.Context) error
	// Upgrade starts binary with args as this server's successor, handing it
	// the listening sockets, and returns once the successor is ready.
	Upgrade(ctx context.Context, binary string, args []string) (UpgradeResult, error)
}

type request struct {
	Op     string   `json:"op"`
	Binary string   `json:"binary,omitempty"`
	Args   []string `json:"args,omitempty"`
}

type response struct {
	OK      bool           `json:"ok"`
	Error   string         `json:"error,omitempty"`
	Status  *Status        `json:"status,omitempty"`
	Upgrade *UpgradeResult `json:"upgrade,omitempty"`
}

// ControlServer serves the control socket of one server process.
type ControlServer struct {
	path    string
	dataDir string
	h       Handler
	log     *slog.Logger
	wg      sync.WaitGroup
	done    chan struct{}
	closed  sync.Once

	mu      sync.Mutex
	lns     []*net.UnixListener
	info    os.FileInfo // of the socket file we bound last, to avoid removing a successor's
	stopped bool
	// waiting are the connections whose request has not arrived yet. Close
	// closes them: an idle client must not keep a stopping server alive.
	waiting map[*net.UnixConn]struct{}
}

// rebindInterval is how often a server checks that the control socket's
// name still leads somewhere. When a newer server that had taken the name
// exits first (an upgrade rolled back), the older one takes it back.
const rebindInterval = time.Second

// ListenControl binds {dataDir}/ten.sock with mode 0600. The newest server
// takes the name over (bind to a temporary name, then rename), so a client
// always reaches the latest server even while an older one is draining.
func ListenControl(dataDir string, h Handler, log *slog.Logger) (*ControlServer, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &ControlServer{path: filepath.Join(dataDir, SocketName), dataDir: dataDir, h: h, log: log,
		done: make(chan struct{}), waiting: map[*net.UnixConn]struct{}{}}
	if err := s.bind(); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.keepName()
	return s, nil
}

// bind listens on a fresh socket and renames it onto the control path.
func (s *ControlServer) bind() error {
	tmp := filepath.Join(s.dataDir, "."+SocketName+"."+strconv.Itoa(os.Getpid()))
	os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return fmt.Errorf("control socket %s: %w", s.path, err)
	}
	ln.SetUnlinkOnClose(false)
	fail := func(err error) error {
		ln.Close()
		os.Remove(tmp)
		return fmt.Errorf("control socket %s: %w", s.path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fail(err)
	}
	info, err := os.Stat(s.path)
	if err != nil {
		return fail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped { // Close ran meanwhile: leave nothing behind
		ln.Close()
		os.Remove(s.path)
		return nil
	}
	s.lns = append(s.lns, ln)
	s.info = info
	s.wg.Add(1)
	go s.serve(ln)
	return nil
}

// keepName takes the socket name back when it disappears while this
// server still runs.
func (s *ControlServer) keepName() {
	defer s.wg.Done()
	t := time.NewTicker(rebindInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		if _, err := os.Stat(s.path); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := s.bind(); err != nil {
			s.log.Warn("control socket: could not take the name back", "err", err)
			continue
		}
		s.log.Info("control socket: took the name back", "path", s.path)
	}
}

// Path is the socket's file name.
func (s *ControlServer) Path() string { return s.path }

// Close stops serving and removes the socket file unless a newer server has
// already taken the name.
func (s *ControlServer) Close() error {
	s.closed.Do(func() { close(s.done) })
	s.mu.Lock()
	s.stopped = true
	var errs []error
	for _, ln := range s.lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	// A request being carried out runs to its end (an upgrade is bounded
	// by its own timeout); a client that has sent nothing gets nothing.
	for conn := range s.waiting {
		conn.Close()
	}
	info := s.info
	s.mu.Unlock()
	if cur, err := os.Stat(s.path); err == nil && os.SameFile(cur, info) {
		os.Remove(s.path)
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

func (s *ControlServer) serve(ln *net.UnixListener) {
	defer s.wg.Done()
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.waiting[conn] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			s.handle(conn)
		}()
	}
}

func (s *ControlServer) handle(conn *net.UnixConn) {
	var req request
	err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req)
	s.mu.Lock()
	delete(s.waiting, conn)
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		// Closed by Close while waiting, or arrived as we stop: a request
		// that starts now would race the shutdown.
		writeResponse(conn, response{Error: "the server is shutting down"})
		return
	}
	if err != nil {
		writeResponse(conn, response{Error: "bad request: " + err.Error()})
		return
	}
	// Requests run to completion even if the client goes away: a half-done
	// upgrade is worse than an unread answer.
	ctx := context.Background()
	var resp response
	switch req.Op {
	case "status":
		st, err := s.h.Status(ctx)
		resp = result(err)
		if err == nil {
			resp.Status = &st
		}
	case "handoff":
		resp = result(s.h.Handoff(ctx))
	case "upgrade":
		if req.Binary == "" {
			resp = response{Error: "upgrade needs a binary path"}
			break
		}
		s.log.Info("control: upgrade requested", "binary", req.Binary)
		res, err := s.h.Upgrade(ctx, req.Binary, req.Args)
		resp = result(err)
		if err == nil {
			resp.Upgrade = &res
		}
	default:
		resp = response{Error: fmt.Sprintf("unknown request %q (want status, handoff or upgrade)", req.Op)}
	}
	writeResponse(conn, resp)
}

func result(err error) response {
	if err != nil {
		return response{Error: err.Error()}
	}
	return response{OK: true}
}

func writeResponse(conn net.Conn, r response) {
	_ = json.NewEncoder(conn).Encode(r)
}

// ControlClient talks to a server's control socket.
type ControlClient struct {
	Path string
}

// NewControlClient returns a client for the server using dataDir.
func NewControlClient(dataDir string) *ControlClient {
	return &ControlClient{Path: filepath.Join(dataDir, SocketName)}
}

// ErrNoServer is returned when no server listens on the control socket.
var ErrNoServer = errors.New("no ten server is listening on the control socket")

func (c *ControlClient) do(ctx context.Context, req request) (response, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		return response{}, fmt.Errorf("%w %s: %w", ErrNoServer, c.Path, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return response{}, fmt.Errorf("control %s: %w", req.Op, err)
	}
	var resp response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return response{}, fmt.Errorf("control %s: no answer: %w", req.Op, err)
	}
	if !resp.OK {
		return resp, fmt.Errorf("control %s: %s", req.Op, resp.Error)
	}
	return resp, nil
}

// Status asks the server to describe itself.
func (c *ControlClient) Status(ctx context.Context) (Status, error) {
	resp, err := c.do(ctx, request{Op: "status"})
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, errors.New("control status: empty answer")
	}
	return *resp.Status, nil
}

// Handoff asks the server to hand the supervisor lease to its successor and
// drain.
func (c *ControlClient) Handoff(ctx context.Context) error {
	_, err := c.do(ctx, request{Op: "handoff"})
	return err
}

// Upgrade asks the server to start binary as its successor with its
// listening sockets. It returns once the successor is ready, or the reason it
// was not (the old server then keeps serving).
func (c *ControlClient) Upgrade(ctx context.Context, binary string, args []string) (UpgradeResult, error) {
	resp, err := c.do(ctx, request{Op: "upgrade", Binary: binary, Args: args})
	if err != nil {
		return UpgradeResult{}, err
	}
	if resp.Upgrade == nil {
		return UpgradeResult{}, errors.New("control upgrade: empty answer")
	}
	return *resp.Upgrade, nil
}
