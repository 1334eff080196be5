package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/runtime/handoff"
)

// RunningServer is the `ten serve` found on a data directory: what it says
// about itself over the control socket, confirmed from the outside (the
// process with that pid and start time exists, runs that executable and
// listens on that port).
type RunningServer struct {
	PID           int       `json:"pid"`
	ProcStartTime int64     `json:"proc_start_time"` // ms since the epoch; with PID, names the process
	ServerID      string    `json:"server_id"`
	Version       string    `json:"version"`
	SchemaVersion int       `json:"schema_version"`
	Executable    string    `json:"executable"`
	Addr          string    `json:"addr"` // host:port it serves HTTP on
	DataDir       string    `json:"data_dir"`
	Supervisor    bool      `json:"supervisor"`
	Capabilities  []string  `json:"capabilities"`
	StartedAt     time.Time `json:"started_at"`
	// Args are the `ten` arguments it was started with (argv[1:]); Dir its
	// working directory; Env its environment (when readable). A server
	// that ten-upgrade starts in its place gets the same.
	Args []string `json:"args"`
	Dir  string   `json:"dir,omitempty"`
	Env  []string `json:"-"`
	// Listening are the TCP addresses the process listens on; Children
	// the pids of its child processes.
	Listening []string `json:"listening,omitempty"`
	Children  []int    `json:"children,omitempty"`
}

// HasCapability reports whether the server announced capability c.
func (s *RunningServer) HasCapability(c string) bool { return slices.Contains(s.Capabilities, c) }

// Port is the TCP port the server answers on.
func (s *RunningServer) Port() int {
	_, p, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// URL is the server's base URL for /health and /metrics.
func (s *RunningServer) URL() string { return "http://" + dialAddr(s.Addr) }

// ErrNoServer is returned (wrapped) by Discover when no server answers on
// the data directory's control socket.
var ErrNoServer = errors.New("no running ten server found")

// Discover finds the server running on dataDir through its control socket
// and confirms it with the process table.
func Discover(ctx context.Context, dataDir string) (*RunningServer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ctl := handoff.NewControlClient(dataDir)
	st, err := ctl.Status(ctx)
	if err != nil {
		if errors.Is(err, handoff.ErrNoServer) {
			return nil, fmt.Errorf("%w on data directory %s (control socket %s)", ErrNoServer, dataDir, ctl.Path)
		}
		return nil, fmt.Errorf("ask the server on %s: %w", ctl.Path, err)
	}
	s := &RunningServer{
		PID: st.PID, ProcStartTime: st.ProcStartTime, ServerID: st.ServerID,
		Version: st.Version, SchemaVersion: st.SchemaVersion, Executable: st.Executable,
		Addr: st.Addr, DataDir: st.DataDir, Supervisor: st.Supervisor,
		Capabilities: st.Capabilities, StartedAt: st.StartedAt,
	}
	if err := s.inspect(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// inspect confirms the control socket's answer with the process table and
// reads the process's command line, working directory, environment,
// listeners and children.
func (s *RunningServer) inspect(ctx context.Context) error {
	if !proc.Alive(s.PID) {
		return fmt.Errorf("the server says it is pid %d, but there is no such process", s.PID)
	}
	if !proc.Same(s.PID, s.ProcStartTime) {
		return fmt.Errorf("pid %d is not the process that answered the control socket (start time differs)", s.PID)
	}
	info, err := proc.Describe(ctx, s.PID)
	if err != nil {
		return fmt.Errorf("%w; run ten-upgrade as the user that runs ten serve", err)
	}
	if s.Executable == "" {
		s.Executable = info.Exe
	}
	s.Args, s.Dir, s.Env = info.Args[1:], info.Dir, info.Env
	s.Listening, s.Children = info.Listening, info.Children
	if port := s.Port(); port != 0 && len(s.Listening) > 0 {
		suffix := ":" + strconv.Itoa(port)
		if !slices.ContainsFunc(s.Listening, func(l string) bool { return strings.HasSuffix(l, suffix) }) {
			return fmt.Errorf("pid %d says it serves %s but listens on %v", s.PID, s.Addr, s.Listening)
		}
	}
	return nil
}

// dialAddr turns a listening address into one to connect to: a wildcard
// host (0.0.0.0, ::, empty) becomes loopback.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// serveArgs returns args (a `ten serve` command line without argv[0]) with
// the port flag set to port: --port N, --port=N, -p N and -pN are replaced,
// and --port is added when the flag was absent.
func serveArgs(args []string, port int) []string {
	out := make([]string, 0, len(args)+2)
	p := strconv.Itoa(port)
	found := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--port" || a == "-p":
			out = append(out, a, p)
			i++
			found = true
		case strings.HasPrefix(a, "--port="):
			out = append(out, "--port="+p)
			found = true
		case strings.HasPrefix(a, "-p") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			out = append(out, "-p"+p)
			found = true
		case a == "--":
			out = append(out, args[i:]...)
			i = len(args)
		default:
			out = append(out, a)
		}
	}
	if !found {
		out = append(out, "--port", p)
	}
	return out
}

// serveEnv is the environment for a server ten-upgrade starts in the place
// of old: old's own environment (or ours), without handoff and systemd
// variables or an old health nonce, plus extra.
func serveEnv(old []string, extra ...string) []string {
	if len(old) == 0 {
		old = os.Environ()
	}
	var out []string
	for _, kv := range old {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == envHealthNonce, k == "NOTIFY_SOCKET", k == "LISTEN_FDS", k == "LISTEN_PID", k == "LISTEN_FDNAMES",
			k == "TEN_READY_FD", strings.HasPrefix(k, "TEN_HANDOFF_"), strings.HasPrefix(k, "TEN_LISTEN_"):
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// envHealthNonce is echoed by a server's /health, so the orchestrator knows
// it is talking to the process it started.
const envHealthNonce = "TEN_HEALTH_NONCE"

// freePort asks the kernel for a free TCP port on host.
func freePort(host string) (int, error) {
	if host == "" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
