package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/internal/procmark"
	tensite "github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/internal/syncbuf"
	"github.com/tenement/ten/internal/testbin"
	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/handoff"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// env is one installation: a config file and a data directory, with the
// ten and testapp binaries built for this test binary.
type env struct {
	t       testing.TB
	ten     string
	app     string
	dir     string
	dataDir string
	config  string
	nonce   string
	mark    string // in the environment of every process this env starts
	// serverEnv is added to the environment of `ten serve` only.
	serverEnv []string
}

// newEnv writes config, where @APP@ (or @TENANT@, as in
// tensite.TestappService) stands for the testapp binary and @DIR@ for the
// env's directory.
func newEnv(t testing.TB, config string) *env {
	t.Helper()
	e := &env{
		t:     t,
		ten:   testbin.Build(t, "./cmd/ten"),
		app:   testbin.Build(t, "./internal/testapp"),
		dir:   t.TempDir(),
		nonce: randHex(8),
		mark:  procmark.New("TENTEST_MARK"),
	}
	// Run as root, ten starts tenants as the unprivileged tenement user:
	// like an installation under /var/lib, the directories above the data
	// directory and the tenant binary must be reachable to it.
	for _, d := range []string{filepath.Dir(e.dir), e.dir, filepath.Dir(e.app)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.dataDir = filepath.Join(e.dir, "data")
	e.config = filepath.Join(e.dir, "tenement.toml")
	config = strings.NewReplacer("@APP@", e.app, "@TENANT@", e.app, "@DIR@", e.dir).Replace(config)
	if err := os.WriteFile(e.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// Whatever happens to the servers, no tenant outlives the test.
	t.Cleanup(e.killStrays)
	return e
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// environ is the environment of processes this env starts: the test's own,
// without settings that would point ten elsewhere.
func (e *env) environ(extra ...string) []string {
	return tensite.Environ(append([]string{e.mark}, extra...)...)
}

// killStrays SIGKILLs every process carrying this env's mark: servers the
// test did not stop and the tenants they left behind.
func (e *env) killStrays() { procmark.Kill(e.mark) }

func (e *env) markedPIDs() []int { return procmark.Find(e.mark) }

// countTenants counts this env's live testapp processes.
func (e *env) countTenants(t testing.TB) int {
	t.Helper()
	ids, err := proc.FindByExe(e.app)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, pid := range proc.PIDs(ids) {
		if slices.Contains(e.markedPIDs(), pid) {
			n++
		}
	}
	return n
}

// server is a running `ten serve`.
type server struct {
	e      *env
	cmd    *exec.Cmd
	addr   string
	url    string
	out    *syncbuf.Buffer
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

var listenRE = regexp.MustCompile(`msg="ten listening" addr=(\S+)`)

// startServer runs `ten serve` on a free port and waits until it answers
// /health. The test's cleanup stops it.
func (e *env) startServer(t testing.TB) *server {
	t.Helper()
	return e.startServerArgs(t)
}

// startServerArgs is startServer with extra `ten serve` flags.
func (e *env) startServerArgs(t testing.TB, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--host", "127.0.0.1", "--port", "0", "--domain", "localhost",
		"--config", e.config, "--data-dir", e.dataDir, "--log-level", "debug"}, extra...)
	cmd := exec.Command(e.ten, args...)
	cmd.Env = e.environ(append([]string{"TEN_HEALTH_NONCE=" + e.nonce}, e.serverEnv...)...)
	// Its own process group, so that ^C on the test does not reach it
	// before the cleanup does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	s := &server{e: e, cmd: cmd, out: &syncbuf.Buffer{}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.out, line)
			if m := listenRE.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		s.err = cmd.Wait()
		pw.Close()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() || os.Getenv("TENTEST_VERBOSE") != "" {
			t.Logf("ten serve output:\n%s", s.out.String())
		}
	})

	select {
	case s.addr = <-addrc:
	case <-s.exited:
		t.Fatalf("ten serve exited: %v\n%s", s.err, s.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("ten serve did not start listening:\n%s", s.out.String())
	}
	s.url = "http://" + s.addr
	var h api.Health
	if code := s.getJSON(t, "/health", "", &h); code != 200 || h.Status != "ok" {
		t.Fatalf("/health: %d %+v", code, h)
	}
	return s
}

// stop sends SIGTERM and waits for a graceful exit, killing the server if
// it takes too long.
func (s *server) stop(t testing.TB) {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		t.Errorf("ten serve did not exit within 20s of SIGTERM")
		// A goroutine dump in the output shows what it was waiting for.
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
}

// handoff upgrades the server in place to ten 9.9.9 over the control
// socket, waits until its process exited and returns the new one's pid.
func (s *server) handoff(t *testing.T) int {
	t.Helper()
	newBin := testbin.Build(t, "./cmd/ten", testbin.LDFlags("-X github.com/tenement/ten/version.Version=9.9.9"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := handoff.NewControlClient(s.e.dataDir).Upgrade(ctx, newBin, nil)
	if err != nil {
		t.Fatalf("upgrade: %v\n%s", err, s.out.String())
	}
	waitGone(t, s.cmd.Process.Pid, 30*time.Second)
	return res.NewPID
}

// kill9 kills the server process alone, leaving its tenants running.
func (s *server) kill9(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.exited
}

// httpClient has no proxy and no keep-alive surprises between servers.
var httpClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
	Timeout:   60 * time.Second,
}

// request sends a request to the server with the given Host.
func (s *server) request(t testing.TB, method, host, path string, body io.Reader, hdr http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s%s: read: %v", method, host, path, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// tenantInfo is what testapp's / answers.
type tenantInfo struct {
	PID     int                 `json:"pid"`
	Port    string              `json:"port"`
	Name    string              `json:"name"`
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
}

// tenant GETs path from the tenant at host and decodes testapp's answer.
func (s *server) tenant(t testing.TB, host, path string) tenantInfo {
	t.Helper()
	code, body, _ := s.request(t, "GET", host, path, nil, nil)
	if code != 200 {
		t.Fatalf("GET %s%s: %d %s", host, path, code, body)
	}
	var ti tenantInfo
	if err := json.Unmarshal([]byte(body), &ti); err != nil {
		t.Fatalf("GET %s%s: %q: %v", host, path, body, err)
	}
	if ti.PID <= 1 {
		// Tests signal -PID: -1 would be every process on the machine.
		t.Fatalf("GET %s%s: the tenant reports pid %d", host, path, ti.PID)
	}
	return ti
}

// getJSON GETs an API path with token ("" for none) into v.
func (s *server) getJSON(t testing.TB, path, token string, v any) int {
	t.Helper()
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	code, body, _ := s.request(t, "GET", "", path, nil, hdr)
	if code == 200 && v != nil {
		if err := json.Unmarshal([]byte(body), v); err != nil {
			t.Fatalf("GET %s: %q: %v", path, body, err)
		}
	}
	return code
}

func (s *server) instances(t testing.TB, token string) map[string]api.Instance {
	t.Helper()
	var list []api.Instance
	if code := s.getJSON(t, "/api/instances", token, &list); code != 200 {
		t.Fatalf("GET /api/instances: %d", code)
	}
	m := map[string]api.Instance{}
	for _, in := range list {
		m[in.ID] = in
	}
	return m
}

// waitFor polls cond until it holds or the deadline passes.
var waitFor = tensite.WaitFor

// settings are the settings of most tests' configs: health checks every
// second, so that a test of supervision need not wait long.
const settings = "[settings]\nhealth_check_interval = 1\n\n"

// cliResult is the outcome of one ten command.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cli runs the ten binary against s (or no server) with the env's config
// and data directory.
func (e *env) cli(t testing.TB, s *server, args ...string) cliResult {
	t.Helper()
	cmd := e.cliCmd(context.Background(), s, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errb.String()}
	if res.code, err = proc.ExitCode(err); err != nil {
		t.Fatalf("ten %s: %v", strings.Join(args, " "), err)
	}
	return res
}

func (e *env) cliCmd(ctx context.Context, s *server, args ...string) *exec.Cmd {
	full := []string{"--config", e.config, "--data-dir", e.dataDir}
	if s != nil {
		full = append(full, "--server", s.url)
	}
	cmd := exec.CommandContext(ctx, e.ten, append(full, args...)...)
	cmd.Env = e.environ()
	return cmd
}

// mustCLI runs a command that must succeed.
func (e *env) mustCLI(t testing.TB, s *server, args ...string) string {
	t.Helper()
	r := e.cli(t, s, args...)
	if r.code != 0 {
		t.Fatalf("ten %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// adminToken runs `ten token-gen` and returns the saved token.
func (e *env) adminToken(t testing.TB) string {
	t.Helper()
	out := e.mustCLI(t, nil, "token-gen")
	b, err := os.ReadFile(filepath.Join(e.dataDir, "api_token"))
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(b))
	if !strings.Contains(out, "\n  "+tok+"\n") {
		t.Fatalf("token-gen printed %q, saved %q", out, tok)
	}
	return tok
}

// tokenFrom extracts the token from token-gen output.
func tokenFrom(t testing.TB, out string) string {
	t.Helper()
	for line := range strings.Lines(out) {
		if tok, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "  "); ok && strings.HasPrefix(tok, api.TokenPrefix) {
			return tok
		}
	}
	t.Fatalf("no token in %q", out)
	return ""
}
