// Package site runs a real ten installation for the end-to-end tests and
// the upgrade benchmark: an installed ten binary, a tenement.toml, a data
// directory, `ten serve` started like a service, its tenants, constant
// load, ten-upgrade, and Caddy or nginx in front. Every process a site
// starts carries a mark in its environment (internal/procmark), so that
// Close stops them all, tenants included, however a test or a benchmark
// ended.
//
// The functions here return errors, for the benchmark driver that runs
// outside `go test`; the test wrappers in testing.go (New, Start, and the
// Must methods) turn them into t.Fatal and register the cleanup.
package site

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tenement/ten/internal/fsutil"
	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/internal/procmark"
	"github.com/tenement/ten/internal/sqlitefile"
	"github.com/tenement/ten/runtime/store"
)

// Binaries are the real programs a site runs.
type Binaries struct {
	Ten     string // installed as the site's ten
	Upgrade string // ten-upgrade
	Tenant  string // the test tenant (internal/testapp)
}

// TestappService is the TOML of a service that runs the test tenant
// (@TENANT@), each instance answering with its id as its name.
func TestappService(name string) string {
	return fmt.Sprintf("[service.%[1]s]\ncommand = \"@TENANT@\"\n[service.%[1]s.env]\nTESTAPP_NAME = \"{id}\"\n", name)
}

// APIServices is the service of the api tenants, the load's target
// being api:a.
var APIServices = TestappService("api")

// APITenants are the instances of APIServices.
var APITenants = []string{"api:a", "api:b", "api:c"}

// LoadHost is the Host header that reaches api:a.
const LoadHost = "a.api.localhost"

// Config describes a site.
type Config struct {
	// Dir is the site's directory; everything it writes is inside.
	Dir  string
	Bins Binaries
	// Services is the TOML of the services; @TENANT@ stands for the
	// tenant binary. Default APIServices.
	Services string
	// Tenants are the instance ids started, and waited for by Start.
	// Default APITenants.
	Tenants []string
	// CopyTenant installs the tenant binary in the site instead of
	// running the shared one, as a real installation would.
	CopyTenant bool
	// MarkVar names the environment variable of the mark.
	MarkVar string
	// Logf, if set, reports what the site did on its own (a tenant it
	// restarted).
	Logf func(format string, args ...any)
}

// Site is one installation.
type Site struct {
	cfg     Config
	Dir     string
	Bin     string // the installed ten
	Tenant  string // the tenant binary the config runs
	Config  string
	DataDir string
	Tmp     string // TMPDIR of every process of the site
	Log     string // ten serve's output
	Mark    string
	Port    int
	URL     string
	Token   string
	pgids   []int // process groups of the proxies
	fronts  []*Front

	mu           sync.Mutex
	failed, sent int // of the loads stopped so far
}

// Open installs a site in cfg.Dir: ten, the config, an API token. It
// starts nothing.
func Open(ctx context.Context, cfg Config) (*Site, error) {
	if cfg.Dir == "" || cfg.Bins.Ten == "" {
		return nil, errors.New("site: a directory and a ten binary are required")
	}
	if cfg.Services == "" {
		cfg.Services = APIServices
	}
	if cfg.Tenants == nil {
		cfg.Tenants = APITenants
	}
	if cfg.MarkVar == "" {
		cfg.MarkVar = "TENSITE_MARK"
	}
	d := cfg.Dir
	s := &Site{cfg: cfg, Dir: d, Mark: procmark.New(cfg.MarkVar), Tenant: cfg.Bins.Tenant,
		Bin: filepath.Join(d, "bin", "ten"), Config: filepath.Join(d, "tenement.toml"),
		DataDir: filepath.Join(d, "data"), Tmp: filepath.Join(d, "tmp"), Log: filepath.Join(d, "serve.log")}
	for _, dir := range []string{filepath.Dir(s.Bin), s.Tmp} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("site: %w", err)
		}
	}
	install := [][2]string{{cfg.Bins.Ten, s.Bin}}
	if cfg.CopyTenant {
		s.Tenant = filepath.Join(d, "bin", "tenant")
		install = append(install, [2]string{cfg.Bins.Tenant, s.Tenant})
	}
	for _, c := range install {
		if _, err := fsutil.CopyFile(c[0], c[1], 0o755); err != nil {
			return nil, fmt.Errorf("site: install %s: %w", filepath.Base(c[1]), err)
		}
	}
	conf := fmt.Sprintf("[settings]\ndata_dir = %q\nhealth_check_interval = 1\n\n%s\n[instances]\n%s\n[upgrade]\nbinary_path = %q\n",
		s.DataDir, strings.ReplaceAll(cfg.Services, "@TENANT@", s.Tenant), instances(cfg.Tenants), s.Bin)
	if err := os.WriteFile(s.Config, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	cmd := exec.CommandContext(ctx, s.Bin, "--config", s.Config, "token-gen")
	cmd.Env = s.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ten token-gen: %v %s", err, out)
	}
	tok, err := os.ReadFile(filepath.Join(s.DataDir, "api_token"))
	if err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	s.Token = strings.TrimSpace(string(tok))
	return s, nil
}

// instances is the [instances] table of ids ("service:name").
func instances(ids []string) string {
	var order []string
	by := map[string][]string{}
	for _, id := range ids {
		svc, name, _ := strings.Cut(id, ":")
		if by[svc] == nil {
			order = append(order, svc)
		}
		by[svc] = append(by[svc], strconv.Quote(name))
	}
	var b strings.Builder
	for _, svc := range order {
		fmt.Fprintf(&b, "%s = [%s]\n", svc, strings.Join(by[svc], ", "))
	}
	return b.String()
}

// Environ is the environment of the site's processes: ours without the
// settings that would point ten elsewhere, plus the mark, the site's own
// TMPDIR (the soak counts the temporary files left there) and XDG
// directories (Caddy autosaves its config there: in the site, not in the
// home directory of whoever runs the tests).
func (s *Site) Environ(extra ...string) []string {
	xdg := filepath.Join(s.Dir, "xdg")
	return Environ(append([]string{s.Mark, "TMPDIR=" + s.Tmp, "XDG_CONFIG_HOME=" + xdg, "XDG_DATA_HOME=" + xdg}, extra...)...)
}

// Environ is this process's environment without the TENEMENT_, TEN_,
// TMPDIR and XDG_ settings, plus extra: what a ten started by a test
// sees. Later entries of extra win.
func Environ(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "TENEMENT_"), strings.HasPrefix(kv, "TEN_"),
			strings.HasPrefix(kv, "TMPDIR="), strings.HasPrefix(kv, "XDG_"):
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// Start runs `ten serve` from the installed binary on a free port (the
// same one on every later Start) and waits until every tenant runs,
// restarting any whose first start failed.
func (s *Site) Start(ctx context.Context, extra ...string) error {
	if s.Port == 0 {
		p, err := FreePort()
		if err != nil {
			return err
		}
		s.Port, s.URL = p, fmt.Sprintf("http://127.0.0.1:%d", p)
	}
	if err := s.Serve(s.Bin, s.Port, extra...); err != nil {
		return err
	}
	if _, err := WaitHealth(ctx, s.URL, "", 20*time.Second); err != nil {
		return fmt.Errorf("%w (log %s)", err, s.Log)
	}
	s.retryFailedTenants(ctx)
	_, err := s.WaitTenants(ctx, s.URL, 30*time.Second)
	return err
}

// Serve starts bin as `ten serve` on port, detached like a service (its
// own session, output appended to the log). It is not tied to a context:
// upgrades replace it, and Close stops whatever serves then.
func (s *Site) Serve(bin string, port int, extra ...string) error {
	logf, err := os.OpenFile(s.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("site: %w", err)
	}
	defer logf.Close()
	args := append([]string{"serve", "--config", s.Config, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--handoff-timeout", "5s"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = s.Environ()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ten serve: %w", err)
	}
	go cmd.Wait() //nolint:errcheck // reaped whenever it exits
	return nil
}

// Close kills every process of the site: servers, ten-upgrade, tenants
// (they inherit the mark) and proxies (nginx clears its environment, so
// its process group).
func (s *Site) Close() {
	for _, g := range s.pgids {
		syscall.Kill(-g, syscall.SIGKILL) //nolint:errcheck // may be gone
	}
	procmark.Kill(s.Mark)
}

// Processes are the live processes carrying the site's mark.
func (s *Site) Processes() []int { return procmark.Find(s.Mark) }

// CopyDB takes an online copy of the live database to dst, checks its
// integrity and opens it read-only, so that the server need not stop.
func (s *Site) CopyDB(ctx context.Context, dst string) (*store.DB, error) {
	if err := sqlitefile.BackupFile(ctx, filepath.Join(s.DataDir, store.FileName), dst); err != nil {
		return nil, fmt.Errorf("copy the database: %w", err)
	}
	if err := sqlitefile.IntegrityCheck(ctx, dst); err != nil {
		return nil, fmt.Errorf("database integrity: %w", err)
	}
	return store.Open(ctx, dst, store.Options{ReadOnly: true})
}

// FreePort is a loopback port nothing listens on, for a server or proxy
// to take right after.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Tail keeps the end of a command's output for an error: the cause is
// usually there.
func Tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Servers are the site's live `ten serve` processes: after an upgrade or
// a rollback exactly one must be left.
func (s *Site) Servers() []int {
	var out []int
	for _, pid := range s.Processes() {
		// A zombie's command line is empty: it serves no more.
		if args, err := proc.Cmdline(pid); err == nil && slices.Contains(args, "serve") {
			out = append(out, pid)
		}
	}
	return out
}
