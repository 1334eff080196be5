package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tenement/ten/compat/compattest"
	"github.com/tenement/ten/internal/fsutil"
	"github.com/tenement/ten/internal/procmark"
	"github.com/tenement/ten/internal/sqlitefile"
	"github.com/tenement/ten/runtime/store"
)

// Versions upgraded between: 1.1.0 carries an expand migration (built with
// the test migration tag), so the old and the new server can share the
// database, as in the end-to-end tests.
const (
	fromVersion = "1.0.0"
	toVersion   = "1.1.0"
)

// bins are the real binaries every scenario runs.
type bins struct {
	tenOld, tenNew, upgrade, tenant string
}

func buildBins(ctx context.Context, dir string) (*bins, error) {
	out, err := compattest.Build(dir,
		compattest.Variant{Name: "ten-" + fromVersion, Version: fromVersion},
		compattest.Variant{Name: "ten-" + toVersion, Version: toVersion, Tags: compattest.TagExpand},
	)
	if err != nil {
		return nil, err
	}
	root, err := compattest.ModuleRoot()
	if err != nil {
		return nil, err
	}
	b := &bins{tenOld: out["ten-"+fromVersion], tenNew: out["ten-"+toVersion],
		upgrade: filepath.Join(dir, "ten-upgrade"), tenant: filepath.Join(dir, "tenant")}
	for _, x := range [][2]string{{b.upgrade, "./cmd/ten-upgrade"}, {b.tenant, "./internal/testapp"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", x[0], x[1])
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", x[1], err, o)
		}
	}
	return b, nil
}

const siteConfig = `[settings]
data_dir = %q
health_check_interval = 1

[service.api]
command = %q
[service.api.env]
TESTAPP_NAME = "{id}"

[instances]
api = ["a", "b", "c"]

[upgrade]
binary_path = %q
`

// tenants are the instances every site runs; the load goes to the first.
var tenants = []string{"api:a", "api:b", "api:c"}

const loadHost = "a.api.localhost"

// site is one installation of ten 1.0.0 with its tenants, run like a
// service: its own session, output in a log file. Every process it starts
// carries mark in its environment, so that close can find and stop them
// all, tenants included.
type site struct {
	b       *bins
	dir     string
	bin     string // the installed ten
	tenant  string // the site's own copy of the tenant binary
	pgids   []int  // process groups of the proxies
	config  string
	dataDir string
	tmp     string // TMPDIR of every process of the site
	mark    string
	port    int
	url     string
	token   string
	log     string
}

func newSite(ctx context.Context, b *bins, dir string) (*site, error) {
	s := &site{b: b, dir: dir, mark: procmark.New("TENBENCH_MARK")}
	s.bin = filepath.Join(dir, "bin", "ten")
	s.tenant = filepath.Join(dir, "bin", "tenant")
	s.config = filepath.Join(dir, "tenement.toml")
	s.dataDir = filepath.Join(dir, "data")
	s.tmp = filepath.Join(dir, "tmp")
	s.log = filepath.Join(dir, "serve.log")
	for _, d := range []string{filepath.Dir(s.bin), s.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, c := range [][2]string{{b.tenOld, s.bin}, {b.tenant, s.tenant}} {
		if _, err := fsutil.CopyFile(c[0], c[1], 0o755); err != nil {
			return nil, fmt.Errorf("install %s: %w", filepath.Base(c[1]), err)
		}
	}
	if err := os.WriteFile(s.config, []byte(fmt.Sprintf(siteConfig, s.dataDir, s.tenant, s.bin)), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, s.bin, "--config", s.config, "token-gen")
	cmd.Env = s.environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ten token-gen: %v %s", err, out)
	}
	tok, err := os.ReadFile(filepath.Join(s.dataDir, "api_token"))
	if err != nil {
		return nil, err
	}
	s.token = strings.TrimSpace(string(tok))
	return s, nil
}

// environ is the environment of the site's processes: ours without the
// settings that would point ten elsewhere, plus the mark and the site's
// own TMPDIR (the soak counts the temporary files left there).
func (s *site) environ(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TENEMENT_") || strings.HasPrefix(kv, "TEN_") || strings.HasPrefix(kv, "TMPDIR=") {
			continue
		}
		out = append(out, kv)
	}
	return append(append(out, s.mark, "TMPDIR="+s.tmp), extra...)
}

// start runs `ten serve` from the installed binary and waits until the
// tenants run.
func (s *site) start(ctx context.Context) error {
	if s.port == 0 {
		p, err := freePort()
		if err != nil {
			return err
		}
		s.port, s.url = p, fmt.Sprintf("http://127.0.0.1:%d", p)
	}
	if err := s.serve(s.bin, s.port); err != nil {
		return err
	}
	_, err := s.waitTenants(ctx, s.url, 30*time.Second)
	return err
}

// serve starts bin as `ten serve` on port, detached. It is not tied to a
// context: upgrades replace it, and close stops whatever serves then.
func (s *site) serve(bin string, port int) error {
	logf, err := os.OpenFile(s.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", "--config", s.config, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--handoff-timeout", "5s")
	cmd.Env = s.environ()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ten serve: %w", err)
	}
	go cmd.Wait()
	return nil
}

type instance struct {
	ID    string `json:"id"`
	PID   int    `json:"pid"`
	State string `json:"state"`
}

// apiClient opens a connection per request, so that every request meets
// whichever server listens at that moment.
var apiClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 5 * time.Second}

func (s *site) instances(ctx context.Context, url string) (map[string]instance, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/api/instances", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := apiClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET /api/instances: %s", resp.Status)
	}
	var list []instance
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("GET /api/instances: %w", err)
	}
	m := map[string]instance{}
	for _, in := range list {
		m[in.ID] = in
	}
	return m, nil
}

// waitTenants waits until every tenant runs (asking url, which may be a
// proxy in front of the server) and returns their pids.
func (s *site) waitTenants(ctx context.Context, url string, timeout time.Duration) (map[string]int, error) {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		m, err := s.instances(ctx, url)
		if err == nil {
			pids := map[string]int{}
			for _, id := range tenants {
				if m[id].State == "running" && m[id].PID > 0 {
					pids[id] = m[id].PID
				}
			}
			if len(pids) == len(tenants) {
				return pids, nil
			}
			last = fmt.Errorf("tenants: %v", m)
		} else {
			last = err
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, fmt.Errorf("waiting for the tenants on %s: %w", url, err)
		}
	}
	return nil, fmt.Errorf("the tenants did not run within %s on %s: %v (log %s)", timeout, url, last, s.log)
}

type health struct {
	Version string `json:"version"`
	PID     int    `json:"pid"`
}

func getHealth(ctx context.Context, url string) (health, error) {
	var h health
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/health", nil)
	if err != nil {
		return h, err
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return h, fmt.Errorf("/health: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return h, fmt.Errorf("/health: %w", err)
	}
	return h, nil
}

// waitHealth waits until url answers as ten version ("" for any).
func waitHealth(ctx context.Context, url, version string, timeout time.Duration) (health, error) {
	deadline := time.Now().Add(timeout)
	for {
		h, err := getHealth(ctx, url)
		if err == nil && (version == "" || h.Version == version) {
			return h, nil
		}
		if time.Now().After(deadline) {
			return h, fmt.Errorf("%s did not answer as ten %q within %s: %+v %v", url, version, timeout, h, err)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return h, fmt.Errorf("waiting for %s: %w", url, err)
		}
	}
}

// close kills every process of the site: servers, ten-upgrade, tenants
// (they inherit the mark) and proxies (nginx clears its environment, so
// its process group).
func (s *site) close() {
	for _, g := range s.pgids {
		syscall.Kill(-g, syscall.SIGKILL)
	}
	procmark.Kill(s.mark)
}

// integrity checks the live database on an online copy, so that the
// server need not stop.
func (s *site) integrity(ctx context.Context) error {
	cp := filepath.Join(s.dir, "integrity-copy.db")
	defer os.Remove(cp)
	if err := sqlitefile.BackupFile(ctx, filepath.Join(s.dataDir, store.FileName), cp); err != nil {
		return fmt.Errorf("copy the database: %w", err)
	}
	return sqlitefile.IntegrityCheck(ctx, cp)
}

// freePort is a port nothing listens on, for a server or proxy to take
// right after.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tail keeps the end of a command's output for an error: the cause is
// usually there.
func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
