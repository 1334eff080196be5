package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/tenement/ten/internal/nginxconf"
	"github.com/tenement/ten/internal/procmark"
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

func buildBins(dir string) (*bins, error) {
	out, err := compattest.Build(dir,
		compattest.Variant{Name: "ten-" + fromVersion, Version: fromVersion},
		compattest.Variant{Name: "ten-" + toVersion, Version: toVersion, Tags: compattest.TagExpand},
	)
	if err != nil {
		return nil, err
	}
	b := &bins{tenOld: out["ten-"+fromVersion], tenNew: out["ten-"+toVersion],
		upgrade: filepath.Join(dir, "ten-upgrade"), tenant: filepath.Join(dir, "tenant")}
	for _, x := range [][2]string{{b.upgrade, "./cmd/ten-upgrade"}, {b.tenant, "./internal/testapp"}} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", x[0], x[1])
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

func newSite(b *bins, dir string) (*site, error) {
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
	if err := copyFile(b.tenOld, s.bin); err != nil {
		return nil, err
	}
	if err := copyFile(b.tenant, s.tenant); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.config, []byte(fmt.Sprintf(siteConfig, s.dataDir, s.tenant, s.bin)), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(s.bin, "--config", s.config, "token-gen")
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
func (s *site) start() error {
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
	_, err := s.waitTenants(s.url, 30*time.Second)
	return err
}

// serve starts bin as `ten serve` on port, detached.
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
		return err
	}
	go cmd.Wait()
	return nil
}

type instance struct {
	ID    string `json:"id"`
	PID   int    `json:"pid"`
	State string `json:"state"`
}

var apiClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 5 * time.Second}

func (s *site) instances(url string) (map[string]instance, error) {
	req, _ := http.NewRequest("GET", url+"/api/instances", nil)
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
		return nil, err
	}
	m := map[string]instance{}
	for _, in := range list {
		m[in.ID] = in
	}
	return m, nil
}

// waitTenants waits until every tenant runs (asking url, which may be a
// proxy in front of the server) and returns their pids.
func (s *site) waitTenants(url string, timeout time.Duration) (map[string]int, error) {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		m, err := s.instances(url)
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
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("the tenants did not run within %s on %s: %v (log %s)", timeout, url, last, s.log)
}

type health struct {
	Version string `json:"version"`
	PID     int    `json:"pid"`
}

func getHealth(url string) (health, error) {
	var h health
	resp, err := apiClient.Get(url + "/health")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return h, fmt.Errorf("/health: %s", resp.Status)
	}
	return h, json.NewDecoder(resp.Body).Decode(&h)
}

func waitHealth(url, version string, timeout time.Duration) (health, error) {
	deadline := time.Now().Add(timeout)
	for {
		h, err := getHealth(url)
		if err == nil && (version == "" || h.Version == version) {
			return h, nil
		}
		if time.Now().After(deadline) {
			return h, fmt.Errorf("%s did not answer as ten %q within %s: %+v %v", url, version, timeout, h, err)
		}
		time.Sleep(50 * time.Millisecond)
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

// upgradeReport is the part of `ten-upgrade run|rollback --json` the
// benchmark reads (docs/json-output.md).
type upgradeReport struct {
	Result     string `json:"result"`
	ExitCode   int    `json:"exit_code"`
	Strategy   string `json:"strategy"`
	DurationMS int64  `json:"duration_ms"`
	DowntimeMS *int64 `json:"downtime_ms"`
	Error      string `json:"error"`
	FailedStep string `json:"failed_step"`
	Server     *struct {
		PID     int    `json:"pid"`
		Version string `json:"version"`
		Addr    string `json:"addr"`
	} `json:"server"`
	Steps []struct {
		Name      string     `json:"name"`
		State     string     `json:"state"`
		StartedAt time.Time  `json:"started_at"`
		EndedAt   *time.Time `json:"ended_at"`
	} `json:"steps"`
}

// stepMS is how long a step took, 0 if it did not run.
func (r *upgradeReport) stepMS(name string) float64 {
	for _, st := range r.Steps {
		if st.Name == name && st.EndedAt != nil {
			return float64(st.EndedAt.Sub(st.StartedAt).Microseconds()) / 1000
		}
	}
	return 0
}

// tenUpgrade runs ten-upgrade with the site's config and --json and
// returns its report and wall time as seen from outside.
func (s *site) tenUpgrade(args ...string) (*upgradeReport, time.Time, time.Duration, error) {
	cmd := exec.Command(s.b.upgrade, append([]string{"--config", s.config}, append(args, "--json")...)...)
	cmd.Env = s.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	os.WriteFile(filepath.Join(s.dir, "ten-upgrade-"+args[0]+".log"), errb.Bytes(), 0o644)
	var rep upgradeReport
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		return nil, start, took, fmt.Errorf("ten-upgrade %s: %v; output not JSON: %v\n%s", strings.Join(args, " "), err, jerr, tail(errb.String(), 2000))
	}
	if err != nil || (rep.Result != "committed" && rep.Result != "rolled_back") {
		return &rep, start, took, fmt.Errorf("ten-upgrade %s: %v: result %s, failed step %q: %s\n%s", args[0], err, rep.Result, rep.FailedStep, rep.Error, tail(errb.String(), 2000))
	}
	return &rep, start, took, nil
}

// front is a real Caddy or nginx in front of the site.
type front struct {
	name      string
	url       string
	args      []string // ten-upgrade run flags that select and reach it
	caddyfile string   // Caddyfile mode (the manual procedure)
	caddy     string   // caddy binary
}

func lookTool(name string) (string, error) {
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("%s is not installed (Debian package %s; `make test-deps` installs it)", name, name)
}

// startTool runs a proxy in its own process group with the site's mark.
func (s *site) startTool(logFile, bin string, args ...string) error {
	f, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	// Caddy keeps state under $XDG_DATA_HOME and $XDG_CONFIG_HOME: keep
	// it inside the site.
	d := filepath.Dir(logFile)
	cmd.Env = s.environ("XDG_DATA_HOME="+d, "XDG_CONFIG_HOME="+d)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.pgids = append(s.pgids, cmd.Process.Pid)
	go cmd.Wait()
	return nil
}

const caddyfileTmpl = `{
	admin 127.0.0.1:%d
	auto_https off
}
http://:%d {
	bind 127.0.0.1
	# ten-upgrade:begin
	reverse_proxy 127.0.0.1:%d
	# ten-upgrade:end
}
`

// startCaddy runs Caddy in front of the site. With file, it is managed as
// a Caddyfile (caddy reload); else through its admin API.
func (s *site) startCaddy(file bool) (*front, error) {
	bin, err := lookTool("caddy")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "caddy")
	os.MkdirAll(dir, 0o755)
	port, _ := freePort()
	admin, _ := freePort()
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(fmt.Sprintf(caddyfileTmpl, admin, port, s.port)), 0o644); err != nil {
		return nil, err
	}
	if err := s.startTool(filepath.Join(dir, "caddy.log"), bin, "run", "--config", cf, "--adapter", "caddyfile"); err != nil {
		return nil, err
	}
	f := &front{name: "caddy", url: fmt.Sprintf("http://127.0.0.1:%d", port), caddy: bin}
	if file {
		f.caddyfile = cf
		f.args = []string{"--strategy", "proxy", "--proxy", "caddy", "--caddyfile", cf, "--proxy-url", f.url}
	} else {
		f.args = []string{"--strategy", "proxy", "--proxy", "caddy", "--proxy-admin", fmt.Sprintf("http://127.0.0.1:%d", admin), "--proxy-url", f.url}
	}
	_, err = waitHealth(f.url, "", 20*time.Second)
	return f, err
}

// startNginx runs nginx with ten's upstream in an include file.
func (s *site) startNginx() (*front, error) {
	bin, err := lookTool("nginx")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "nginx")
	os.MkdirAll(dir, 0o755)
	port, _ := freePort()
	main := nginxconf.Main(dir, port)
	inc := nginxconf.Upstream(fmt.Sprintf("127.0.0.1:%d", s.port))
	mainConf := filepath.Join(dir, "nginx.conf")
	include := filepath.Join(dir, nginxconf.UpstreamFile)
	if err := os.WriteFile(mainConf, []byte(main), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(include, []byte(inc), 0o644); err != nil {
		return nil, err
	}
	errLog := filepath.Join(dir, "error.log")
	if err := s.startTool(filepath.Join(dir, "nginx.out"), bin, "-c", mainConf, "-p", dir, "-e", errLog, "-g", "daemon off;"); err != nil {
		return nil, err
	}
	f := &front{name: "nginx", url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	f.args = []string{"--strategy", "proxy", "--proxy", "nginx", "--nginx-include", include, "--nginx-config", mainConf,
		"--nginx-prefix", dir, "--nginx-pid", filepath.Join(dir, "nginx.pid"), "--nginx-arg=-e", "--nginx-arg=" + errLog,
		"--proxy-url", f.url}
	_, err = waitHealth(f.url, "", 20*time.Second)
	return f, err
}

// integrity checks the live database on an online copy.
func (s *site) integrity() error {
	ctx := context.Background()
	cp := filepath.Join(s.dir, "integrity-copy.db")
	defer os.Remove(cp)
	if err := store.BackupFile(ctx, filepath.Join(s.dataDir, store.FileName), cp); err != nil {
		return fmt.Errorf("copy the database: %w", err)
	}
	return store.IntegrityCheck(ctx, cp)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

var errGate = errors.New("a strategy that must not drop requests dropped some")
