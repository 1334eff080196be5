package proxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	procfs "github.com/tenement/ten/internal/proc" // "proc" names the tests' proxy processes
)

// NewNginx returns the driver for nginx with ten's upstream block in its
// own include file (includePath, e.g. /etc/nginx/ten-upstream.conf):
//
//	upstream ten {
//	    server 127.0.0.1:8080;
//	}
//
// Switch rewrites the server lines of that block only (the first upstream
// is the primary, the others are `backup` servers tried in order when it
// refuses or errors; other parameters of a kept server and other
// directives of the block stay), writes the file atomically, runs
// `nginx -t` against the full config (putting the previous file back if it
// fails), sends SIGHUP to the master and waits until the new workers serve
// and the old ones have stopped accepting.
//
// Options: WithBinary, WithNginxConfig (-c), WithNginxPrefix (-p),
// WithNginxArgs, WithPIDFile, WithUpstreamName, WithReloadTimeout.
func NewNginx(includePath string, opts ...Option) Driver {
	return newNginx(includePath, newSettings(opts))
}

func newNginx(include string, s settings) *nginxDriver {
	n := &nginxDriver{configFile{path: include, s: s, bin: findBinary(s.binary, "nginx"),
		what: "nginx include", proxy: "nginx", logKey: "include", restored: "restored the previous upstreams"}}
	n.format = n
	return n
}

type nginxDriver struct{ configFile }

func (n *nginxDriver) Name() string { return NameNginx }

func (n *nginxDriver) check(ups []string) error { return checkUpstreams(ups) }

// upstreams lists the include's servers, primaries before backups;
// servers marked down are left out.
func (n *nginxDriver) upstreams(data []byte) ([]string, error) {
	b, err := parseUpstream(splitLines(string(data)), n.s.upstreamName)
	if err != nil {
		return nil, err
	}
	var primary, backup []string
	for _, sv := range b.servers {
		switch {
		case sv.has("down"):
		case sv.has("backup"):
			backup = append(backup, sv.addr)
		default:
			primary = append(primary, sv.addr)
		}
	}
	return append(primary, backup...), nil
}

func (n *nginxDriver) rewrite(old string, ups []string) (string, error) {
	return rewriteUpstream(old, n.s.upstreamName, ups)
}

func (n *nginxDriver) read() ([]byte, error) {
	data, err := os.ReadFile(n.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("nginx include %s does not exist: create it with `upstream %s { server 127.0.0.1:8080; }` (ten's address), include it from the http block and use proxy_pass http://%s; (see examples/nginx/ten.conf)",
			n.path, n.s.upstreamName, n.s.upstreamName)
	}
	if err != nil {
		return nil, fmt.Errorf("read the nginx include: %w", err)
	}
	return data, nil
}

// apply puts next in place, has nginx test the whole config, reloads the
// master and waits for the new workers. On any failure old is put back.
func (n *nginxDriver) apply(ctx context.Context, old, next []byte) error {
	pid, pidFile, err := n.masterPID(ctx)
	if err != nil {
		return err
	}
	path := resolve(n.path)
	if err := writeFileAtomic(path, next); err != nil {
		return err
	}
	putBack := func() error { return writeFileAtomic(path, old) }

	if out, err := run(ctx, n.bin, n.testArgs()...); err != nil {
		if perr := putBack(); perr != nil {
			return fmt.Errorf("nginx -t rejected the new %s: %s; putting the previous file back failed too: %v; restore it by hand before nginx reloads", n.path, out, perr)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("nginx -t: %w; %s was put back and nginx still runs the previous config", ctx.Err(), n.path)
		}
		if errors.Is(err, errNoBinary) {
			return fmt.Errorf("%w: %v; %s was put back and nginx still runs the previous config", ErrRejected, err, n.path)
		}
		return fmt.Errorf("%w: nginx -t rejected the new %s: %s; the file was put back and nginx still runs the previous config",
			ErrRejected, n.path, nginxError(out))
	}

	before := nginxWorkers(pid)
	if err := signalReload(pid); err != nil {
		if perr := putBack(); perr != nil {
			return fmt.Errorf("reload nginx (master pid %d from %s): %v; putting the previous %s back failed too: %v", pid, pidFile, err, n.path, perr)
		}
		return fmt.Errorf("%w: reload nginx (master pid %d from %s): %v; %s was put back and nginx still runs the previous config", ErrRejected, pid, pidFile, err, n.path)
	}
	if err := n.waitReload(ctx, pid, before); err != nil {
		// The master keeps the previous config when it cannot apply the new
		// one (it logs why); the file must say the same.
		if perr := putBack(); perr != nil {
			return fmt.Errorf("%v; putting the previous %s back failed too: %v", err, n.path, perr)
		}
		return fmt.Errorf("%v; %s was put back: check nginx's error log, then run nginx -t && nginx -s reload to be sure it runs the file's config", err, n.path)
	}
	return nil
}

func (n *nginxDriver) testArgs() []string {
	args := []string{"-t", "-q"}
	if n.s.nginxPrefix != "" {
		args = append(args, "-p", n.s.nginxPrefix)
	}
	if n.s.nginxConfig != "" {
		args = append(args, "-c", n.s.nginxConfig)
	}
	return append(args, n.s.nginxArgs...)
}

// nginxError keeps the [emerg] lines of nginx -t's output.
func nginxError(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "[emerg]") || strings.Contains(l, "[crit]") {
			keep = append(keep, strings.TrimSpace(strings.TrimPrefix(l, "nginx: ")))
		}
	}
	if len(keep) == 0 {
		return snippet([]byte(out))
	}
	return strings.Join(keep, "; ")
}

var pidDirective = regexp.MustCompile(`(?m)^\s*pid\s+("[^"]+"|'[^']+'|[^\s;]+)\s*;`)

// masterPID finds the running master: WithPIDFile, else the pid directive
// of the main config, else nginx's compiled-in --pid-path.
func (n *nginxDriver) masterPID(ctx context.Context) (int, string, error) {
	pidFile := n.s.pidFile
	var info string
	if pidFile == "" {
		info, _ = run(ctx, n.bin, "-V")
		conf := n.s.nginxConfig
		if conf == "" {
			conf = configureArg(info, "conf-path")
		}
		if conf != "" {
			if data, err := os.ReadFile(conf); err == nil {
				if m := pidDirective.FindSubmatch(data); m != nil {
					pidFile = strings.Trim(string(m[1]), `"'`)
				}
			}
		}
		if pidFile == "" {
			pidFile = configureArg(info, "pid-path")
		}
		if pidFile == "" {
			pidFile = "/run/nginx.pid"
		}
	}
	if !filepath.IsAbs(pidFile) {
		prefix := n.s.nginxPrefix
		if prefix == "" {
			prefix = configureArg(info, "prefix")
		}
		pidFile = filepath.Join(prefix, pidFile)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, pidFile, fmt.Errorf("find the nginx master: %v; is nginx running? (pass its pid file with the pid file option)", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0, pidFile, fmt.Errorf("find the nginx master: %s does not hold a pid", pidFile)
	}
	if !alive(pid) {
		return 0, pidFile, fmt.Errorf("find the nginx master: pid %d from %s is not running; start nginx, or pass its pid file", pid, pidFile)
	}
	if cmd, ok := cmdline(pid); ok && !strings.Contains(cmd, "nginx") {
		return 0, pidFile, fmt.Errorf("find the nginx master: pid %d from %s is %q, not nginx (stale pid file?)", pid, pidFile, cmd)
	}
	return pid, pidFile, nil
}

// configureArg returns --name=value from nginx -V's output.
func configureArg(info, name string) string {
	for _, f := range strings.Fields(info) {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// waitReload waits until the master has started a new generation of
// workers and every worker of the previous one is gone or shutting down
// (it has closed its listening sockets, so new connections reach the new
// config; it may still finish long requests such as SSE streams).
func (n *nginxDriver) waitReload(ctx context.Context, master int, before map[int]bool) error {
	if before == nil {
		return nil // no /proc: nothing to watch; the caller probes
	}
	deadline := time.Now().Add(n.s.reloadTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		cur := nginxWorkers(master)
		fresh, stale := 0, 0
		for pid, active := range cur {
			switch {
			case !before[pid] && active:
				fresh++
			case before[pid] && active:
				stale++
			}
		}
		if fresh > 0 && stale == 0 {
			return nil
		}
		if !alive(master) {
			return fmt.Errorf("nginx master %d exited during the reload", master)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nginx did not switch to the new config within %s of the reload signal (new workers: %d, old workers still accepting: %d)", n.s.reloadTimeout, fresh, stale)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for nginx to reload: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// nginxWorkers returns the worker processes of master: pid -> still
// accepting (not "worker process is shutting down"). nil when /proc cannot
// be read.
func nginxWorkers(master int) map[int]bool {
	kids, err := procfs.Children(master)
	if err != nil {
		return nil
	}
	out := map[int]bool{}
	for _, k := range kids {
		cmd, _ := cmdline(k.PID)
		if !strings.Contains(cmd, "worker process") {
			continue // cache manager / loader
		}
		out[k.PID] = !strings.Contains(cmd, "shutting down")
	}
	return out
}

// cmdline returns a process's command line (nginx rewrites it to show the
// process role); ok is false when it cannot be read.
func cmdline(pid int) (string, bool) {
	args, err := procfs.Cmdline(pid)
	return strings.Join(args, " "), err == nil
}

// upstreamBlock is ten's upstream block in the include file.
type upstreamBlock struct {
	open, close int // lines of "upstream NAME {" and of its "}"
	servers     []nginxServer
}

type nginxServer struct {
	line   int
	addr   string
	params []string
}

func (s nginxServer) has(p string) bool {
	for _, x := range s.params {
		if x == p {
			return true
		}
	}
	return false
}

func parseUpstream(lines []string, name string) (upstreamBlock, error) {
	b := upstreamBlock{open: -1, close: -1}
	depth := 0
	for i, l := range lines {
		toks := tokens(l)
		if b.open < 0 {
			if len(toks) >= 2 && toks[0] == "upstream" && toks[1] == name {
				if len(toks) != 3 || toks[2] != "{" {
					return b, fmt.Errorf("line %d: write `upstream %s {` on one line, with each server on its own line", i+1, name)
				}
				b.open, depth = i, 1
			}
			continue
		}
		before := depth
		for _, t := range toks {
			switch {
			case t == "{" || strings.HasSuffix(t, "{"):
				depth++
			case t == "}" || strings.HasPrefix(t, "}"):
				depth--
			}
		}
		if depth == 0 {
			if len(toks) != 1 {
				return b, fmt.Errorf("line %d: put the } closing `upstream %s` on its own line", i+1, name)
			}
			b.close = i
			break
		}
		if before == 1 && len(toks) > 0 && toks[0] == "server" {
			last := toks[len(toks)-1]
			if !strings.HasSuffix(last, ";") || strings.Count(strings.Join(toks, " "), ";") != 1 {
				return b, fmt.Errorf("line %d: write each server directive of `upstream %s` on its own line, ending with ;", i+1, name)
			}
			toks[len(toks)-1] = strings.TrimSuffix(last, ";")
			if toks[len(toks)-1] == "" {
				toks = toks[:len(toks)-1]
			}
			if len(toks) < 2 {
				return b, fmt.Errorf("line %d: server without an address", i+1)
			}
			b.servers = append(b.servers, nginxServer{line: i, addr: toks[1], params: toks[2:]})
		}
	}
	if b.open < 0 {
		return b, fmt.Errorf("no `upstream %s {` block; the file should hold `upstream %s { server 127.0.0.1:8080; }`", name, name)
	}
	if b.close < 0 {
		return b, fmt.Errorf("line %d: `upstream %s {` is never closed", b.open+1, name)
	}
	return b, nil
}

// rewriteUpstream replaces the server lines of the upstream block: ups[0]
// primary, the others backup. Parameters of an address already there are
// kept (except backup and down); everything else is unchanged.
func rewriteUpstream(text, name string, ups []string) (string, error) {
	lines := splitLines(text)
	b, err := parseUpstream(lines, name)
	if err != nil {
		return "", err
	}
	eol := ""
	if strings.HasSuffix(lines[b.open], "\r") {
		eol = "\r"
	}
	indent := indentOf(lines[b.open]) + "    "
	at := b.open + 1
	params := map[string][]string{}
	drop := map[int]bool{}
	for i, sv := range b.servers {
		if i == 0 {
			indent, at = indentOf(lines[sv.line]), sv.line
		}
		var keep []string
		for _, p := range sv.params {
			if p != "backup" && p != "down" {
				keep = append(keep, p)
			}
		}
		params[normAddr(sv.addr)] = keep
		drop[sv.line] = true
	}
	var servers []string
	for i, u := range ups {
		l := indent + "server " + u
		if p := params[normAddr(u)]; len(p) > 0 {
			l += " " + strings.Join(p, " ")
		}
		if i > 0 {
			l += " backup"
		}
		servers = append(servers, l+";"+eol)
	}
	var out []string
	for i, l := range lines {
		if i == at {
			out = append(out, servers...)
		}
		if !drop[i] {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n"), nil
}
