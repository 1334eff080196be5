package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tenement/ten/internal/nginxconf"
)

// front is a real Caddy or nginx in front of the site.
type front struct {
	url       string
	args      []string // ten-upgrade run flags that select and reach it
	caddyfile string   // Caddyfile mode (the manual procedure)
	caddy     string   // caddy binary
}

// lookTool finds a proxy also in the sbin directories, which are not on
// every user's PATH.
func lookTool(name string) (string, error) {
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("%s is not installed (Debian package %s; `make test-deps` installs it)", name, name)
}

// startTool runs a proxy in its own process group with the site's mark.
// Like ten serve it is not tied to a context: close stops it.
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
		return fmt.Errorf("start %s: %w", filepath.Base(bin), err)
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
// a Caddyfile (caddy reload), as the manual procedure does; else through
// its admin API.
func (s *site) startCaddy(ctx context.Context, file bool) (*front, error) {
	bin, err := lookTool("caddy")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "caddy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(fmt.Sprintf(caddyfileTmpl, admin, port, s.port)), 0o644); err != nil {
		return nil, err
	}
	if err := s.startTool(filepath.Join(dir, "caddy.log"), bin, "run", "--config", cf, "--adapter", "caddyfile"); err != nil {
		return nil, err
	}
	f := &front{url: fmt.Sprintf("http://127.0.0.1:%d", port), caddy: bin}
	if file {
		f.caddyfile = cf
		f.args = []string{"--strategy", "proxy", "--proxy", "caddy", "--caddyfile", cf, "--proxy-url", f.url}
	} else {
		f.args = []string{"--strategy", "proxy", "--proxy", "caddy", "--proxy-admin", fmt.Sprintf("http://127.0.0.1:%d", admin), "--proxy-url", f.url}
	}
	_, err = waitHealth(ctx, f.url, "", 20*time.Second)
	return f, err
}

// startNginx runs nginx with ten's upstream in an include file, which
// ten-upgrade rewrites.
func (s *site) startNginx(ctx context.Context) (*front, error) {
	bin, err := lookTool("nginx")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	mainConf := filepath.Join(dir, "nginx.conf")
	include := filepath.Join(dir, nginxconf.UpstreamFile)
	if err := os.WriteFile(mainConf, []byte(nginxconf.Main(dir, port)), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(include, []byte(nginxconf.Upstream(fmt.Sprintf("127.0.0.1:%d", s.port))), 0o644); err != nil {
		return nil, err
	}
	errLog := filepath.Join(dir, "error.log")
	if err := s.startTool(filepath.Join(dir, "nginx.out"), bin, "-c", mainConf, "-p", dir, "-e", errLog, "-g", "daemon off;"); err != nil {
		return nil, err
	}
	f := &front{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	f.args = []string{"--strategy", "proxy", "--proxy", "nginx", "--nginx-include", include, "--nginx-config", mainConf,
		"--nginx-prefix", dir, "--nginx-pid", filepath.Join(dir, "nginx.pid"), "--nginx-arg=-e", "--nginx-arg=" + errLog,
		"--proxy-url", f.url}
	_, err = waitHealth(ctx, f.url, "", 20*time.Second)
	return f, err
}
