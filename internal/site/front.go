package site

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tenement/ten/internal/nginxconf"
)

// Front is a real Caddy or nginx in front of the site.
type Front struct {
	URL  string
	Args []string // ten-upgrade run flags that select and reach it
	Dir  string
	// Conf is the file the proxy runs from: the Caddyfile, nginx.conf.
	Conf string
	// Caddyfile is Conf when Caddy is managed as a Caddyfile (caddy
	// reload), as the manual procedure does.
	Caddyfile string
	Bin       string
	// Logs are the files worth showing when something failed.
	Logs []string
}

// ErrNotInstalled says a proxy is missing; tests skip on it.
var ErrNotInstalled = errors.New("not installed")

// LookTool finds a proxy also in the sbin directories, which are not on
// every user's PATH.
func LookTool(name string) (string, error) {
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("%s is %w (Debian package %s; `make test-deps` installs it)", name, ErrNotInstalled, name)
}

// startTool runs a proxy in its own process group with the site's mark.
// Like ten serve it is not tied to a context: Close stops it.
func (s *Site) startTool(f *Front, logFile string, args ...string) error {
	out, err := os.Create(logFile)
	if err != nil {
		return fmt.Errorf("site: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(f.Bin, args...)
	cmd.Env = s.Environ()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", filepath.Base(f.Bin), err)
	}
	s.pgids = append(s.pgids, cmd.Process.Pid)
	s.fronts = append(s.fronts, f)
	f.Logs = append([]string{logFile}, f.Logs...)
	go cmd.Wait() //nolint:errcheck // reaped whenever it exits
	return nil
}

// newFront makes the proxy's directory and picks its port.
func (s *Site) newFront(tool string) (*Front, int, error) {
	bin, err := LookTool(tool)
	if err != nil {
		return nil, 0, err
	}
	f := &Front{Bin: bin, Dir: filepath.Join(s.Dir, tool)}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return nil, 0, fmt.Errorf("site: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, 0, err
	}
	f.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	return f, port, nil
}

// CaddyOptions choose how Caddy runs in front of the site.
type CaddyOptions struct {
	// File manages Caddy as a Caddyfile (caddy reload), as the manual
	// procedure does; else ten-upgrade goes through the admin API.
	File bool
	// Extra is appended to the Caddyfile (more sites).
	Extra string
}

// StartCaddy runs Caddy in front of the site and waits until it routes to
// ten.
func (s *Site) StartCaddy(ctx context.Context, o CaddyOptions) (*Front, error) {
	f, port, err := s.newFront("caddy")
	if err != nil {
		return nil, err
	}
	admin, err := FreePort()
	if err != nil {
		return nil, err
	}
	f.Conf = filepath.Join(f.Dir, "Caddyfile")
	conf := nginxconf.Caddyfile(admin, port, fmt.Sprintf("127.0.0.1:%d", s.Port), o.Extra)
	if err := os.WriteFile(f.Conf, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	if err := s.startTool(f, filepath.Join(f.Dir, "caddy.log"), "run", "--config", f.Conf, "--adapter", "caddyfile"); err != nil {
		return nil, err
	}
	if o.File {
		f.Caddyfile = f.Conf
		f.Args = []string{"--strategy", "proxy", "--proxy", "caddy", "--caddyfile", f.Conf, "--proxy-url", f.URL}
	} else {
		f.Args = []string{"--strategy", "proxy", "--proxy", "caddy", "--proxy-admin", fmt.Sprintf("http://127.0.0.1:%d", admin), "--proxy-url", f.URL}
	}
	return f, s.waitFront(ctx, f)
}

// StartNginx runs nginx with ten's upstream in an include file, which
// ten-upgrade rewrites, and waits until it routes to ten.
func (s *Site) StartNginx(ctx context.Context) (*Front, error) {
	f, port, err := s.newFront("nginx")
	if err != nil {
		return nil, err
	}
	f.Conf = filepath.Join(f.Dir, "nginx.conf")
	errLog := filepath.Join(f.Dir, "error.log")
	f.Logs = []string{errLog}
	include := filepath.Join(f.Dir, nginxconf.UpstreamFile)
	for name, text := range map[string]string{
		f.Conf:  nginxconf.Main(f.Dir, port),
		include: nginxconf.Upstream(fmt.Sprintf("127.0.0.1:%d", s.Port)),
	} {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			return nil, fmt.Errorf("site: %w", err)
		}
	}
	if err := s.startTool(f, filepath.Join(f.Dir, "nginx.out"), "-c", f.Conf, "-p", f.Dir, "-e", errLog, "-g", "daemon off;"); err != nil {
		return nil, err
	}
	f.Args = []string{"--strategy", "proxy", "--proxy", "nginx", "--nginx-include", include, "--nginx-config", f.Conf,
		"--nginx-prefix", f.Dir, "--nginx-pid", filepath.Join(f.Dir, "nginx.pid"), "--nginx-arg=-e", "--nginx-arg=" + errLog,
		"--proxy-url", f.URL}
	return f, s.waitFront(ctx, f)
}

func (s *Site) waitFront(ctx context.Context, f *Front) error {
	if _, err := WaitHealth(ctx, f.URL, "", 20*time.Second); err != nil {
		return fmt.Errorf("%s in front of the site: %w\n%s", filepath.Base(f.Bin), err, f.LogTail(3000))
	}
	return nil
}

// LogTail is the end of each of the proxy's logs.
func (f *Front) LogTail(n int) string {
	var b strings.Builder
	for _, l := range f.Logs {
		out, _ := os.ReadFile(l)
		fmt.Fprintf(&b, "%s:\n%s\n", l, Tail(string(out), n))
	}
	return b.String()
}
