package proxy

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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenement/ten/internal/nginxconf"
	tensite "github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/internal/testbin"
)

// The tests below run real Caddy and nginx processes on free loopback
// ports, in front of two tiny backends standing in for the old (A) and the
// new (B) ten serve, while a load generator sends requests through them.

const (
	loadHost  = "alice.example.com"
	probeHost = "example.com"
)

func TestMain(m *testing.M) {
	// caddy (the instances the tests start, and caddy validate / reload run
	// by the driver) keeps its autosave and data under these.
	dir, err := os.MkdirTemp("", "proxy-test-xdg-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	os.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// --- backends ---------------------------------------------------------------

// backend answers /health like ten serve (its name is the nonce) and every
// other request with its name.
type backend struct {
	name string
	addr string
	srv  *http.Server
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: ln.Addr().String()}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{
				"status": "ok", "version": "test-" + name, "pid": os.Getpid(),
				"schema_version": 1, "nonce": name,
			})
			return
		}
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, name)
	})}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

// kill stops the backend abruptly: listener and every connection closed.
func (b *backend) kill() { b.srv.Close() }

// deadAddr is a loopback address nothing listens on (connections refused).
func deadAddr(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", testbin.FreePorts(t, 1)[0])
}

// --- load generator -----------------------------------------------------------

type sample struct {
	start   time.Time
	method  string
	fresh   bool
	backend string
	err     error
}

// load sends requests through the proxy from 6 workers every 20ms each
// (about 300 requests a second): half over keep-alive connections, half on
// a fresh connection per request (with every other one a POST).
type load struct {
	url     string
	mu      sync.Mutex
	samples []sample
	n       atomic.Int64
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func startLoad(t *testing.T, proxyURL string) *load {
	l := &load{url: proxyURL, stop: make(chan struct{})}
	keep := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	fresh := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 6 {
		c, isFresh := keep, false
		if i%2 == 1 {
			c, isFresh = fresh, true
		}
		l.wg.Add(1)
		go l.worker(c, i, isFresh)
	}
	t.Cleanup(l.halt)
	return l
}

func (l *load) worker(c *http.Client, id int, fresh bool) {
	defer l.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for k := 0; ; k++ {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		method := http.MethodGet
		var body io.Reader
		if fresh && k%2 == 1 {
			method, body = http.MethodPost, strings.NewReader("payload")
		}
		s := sample{start: time.Now(), method: method, fresh: fresh}
		req, _ := http.NewRequest(method, fmt.Sprintf("%s/who?w=%d&k=%d", l.url, id, k), body)
		req.Host = loadHost
		resp, err := c.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case rerr != nil:
				err = rerr
			case resp.StatusCode != http.StatusOK:
				err = fmt.Errorf("status %d: %s", resp.StatusCode, snippet(b))
			default:
				s.backend = string(b)
			}
		}
		s.err = err
		l.mu.Lock()
		l.samples = append(l.samples, s)
		l.mu.Unlock()
		l.n.Add(1)
	}
}

func (l *load) halt() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// more waits until n more requests have completed.
func (l *load) more(t *testing.T, n int) {
	t.Helper()
	want := l.n.Load() + int64(n)
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for l.n.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("load generator: only %d of %d requests completed in 20s", l.n.Load(), want)
		}
		<-tick.C
	}
}

// stats summarises the requests that started in [from, to) (zero times
// are open ends).
type stats struct {
	total, failed int
	// resets are the failures that are a new connection reset while the
	// proxy swapped its listening socket (see reloadResets).
	resets int
	by     map[string]int
	errs   []string
}

// isReset tells a connection reset by the proxy's listening socket being
// closed (fresh connection; RST on connect, write or read) from every
// other failure.
func isReset(s sample) bool {
	if !s.fresh || s.err == nil {
		return false
	}
	m := s.err.Error()
	return strings.Contains(m, "connection reset by peer") || strings.Contains(m, "broken pipe")
}

func (l *load) stats(from, to time.Time) stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := stats{by: map[string]int{}}
	for _, s := range l.samples {
		if (!from.IsZero() && s.start.Before(from)) || (!to.IsZero() && !s.start.Before(to)) {
			continue
		}
		st.total++
		if s.err != nil {
			st.failed++
			if isReset(s) {
				st.resets++
			}
			if len(st.errs) < 5 {
				kind := "keep-alive"
				if s.fresh {
					kind = "fresh"
				}
				st.errs = append(st.errs, fmt.Sprintf("%s %s: %v", s.method, kind, s.err))
			}
			continue
		}
		st.by[s.backend]++
	}
	return st
}

func (s stats) String() string {
	r := ""
	if s.resets > 0 {
		r = fmt.Sprintf(" (%d of them listener-swap resets)", s.resets)
	}
	return fmt.Sprintf("%d/%d failed%s, by backend %v", s.failed, s.total, r, s.by)
}

// hard are the failures that count: all of them, or all but the
// listener-swap resets where those are a known limit of the proxy.
func (s stats) hard(e *env) int {
	if e.reloadResets != "" {
		return s.failed - s.resets
	}
	return s.failed
}

// --- proxy environments ---------------------------------------------------------

// env is a running proxy in front of one upstream, and how to drive it.
type env struct {
	url   string                    // the proxy, http://127.0.0.1:PORT
	mk    func(...Option) Driver    // a driver for it
	files []string                  // files a rejected change must not touch
	state func(t *testing.T) []byte // the running config, when it can be read
	// reloadResets, when set, says why the proxy may reset a few new
	// connections while it applies a change; such failures are reported
	// but tolerated.
	reloadResets string
	// reject makes a change the proxy must refuse.
	reject func(ctx context.Context, a, b string) error
}

type envMaker func(t *testing.T, upstream string) *env

var badPolicy = func(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("first"), []byte("no_such_policy"))
}

func needBinary(t *testing.T, name string) string {
	t.Helper()
	p := findBinary("", name)
	if _, err := os.Stat(p); err != nil {
		if p, err = exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed; run scripts/install-test-deps (Debian package %s) to run the %s driver tests", name, name, name)
		}
	}
	return p
}

// proc is a proxy process the test started.
type proc struct{ *tensite.Proc }

func startProc(t *testing.T, logFile string, bin string, args ...string) *proc {
	t.Helper()
	return &proc{tensite.StartProc(t, nil, logFile, bin, args...)}
}

// waitServing waits until the proxy routes /health to the backend named
// want, failing early when the process exits.
func (p *proc) waitServing(t *testing.T, url, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	go func() {
		select {
		case <-p.Done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := Probe(ctx, nil, url, probeHost, want); err != nil {
		b, _ := os.ReadFile(p.Log)
		t.Fatalf("the proxy does not serve: %v\n%s", err, tensite.Tail(string(b), 3000))
	}
}

func readExample(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// replaceOnce replaces old, which must occur exactly once: the tests run
// the examples as shipped, so a change there fails loudly here.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("example: %q occurs %d times, want 1", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// exampleCaddyfile is examples/caddy/Caddyfile on test ports: plain HTTP on
// 127.0.0.1:port, admin on 127.0.0.1:adminPort, proxying to upstream.
func exampleCaddyfile(t *testing.T, port, adminPort int, upstream string) string {
	s := readExample(t, "caddy/Caddyfile")
	s = replaceOnce(t, s, "admin localhost:2019", fmt.Sprintf("admin 127.0.0.1:%d", adminPort))
	s = replaceOnce(t, s, "\nexample.com, *.example.com {\n",
		fmt.Sprintf("\nhttp://example.com:%d, http://*.example.com:%d {\n\tbind 127.0.0.1\n", port, port))
	s = replaceOnce(t, s, "\treverse_proxy 127.0.0.1:8080\n\t"+MarkerEnd, "\treverse_proxy "+upstream+"\n\t"+MarkerEnd)
	return s
}

func adminGetter(adminURL string) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		t.Helper()
		resp, err := http.Get(adminURL + "/config/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
}

// caddyEnv runs Caddy on the example Caddyfile in front of upstream.
// With adminAPI it runs the Caddyfile adapted to JSON (caddy run --config
// X.json) and the driver talks to the admin API; else it runs the
// Caddyfile and the driver rewrites it and runs caddy validate / caddy
// reload.
func caddyEnv(t *testing.T, upstream string, adminAPI bool) *env {
	bin := needBinary(t, "caddy")
	dir := t.TempDir()
	port, adminPort := testbin.FreePorts(t, 1)[0], testbin.FreePorts(t, 1)[0]
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(exampleCaddyfile(t, port, adminPort, upstream)), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &env{
		url:   fmt.Sprintf("http://127.0.0.1:%d", port),
		mk:    func(o ...Option) Driver { return NewCaddyfile(cf, append([]Option{WithBinary(bin)}, o...)...) },
		files: []string{cf},
		state: adminGetter(admin),
	}
	run := []string{"run", "--config", cf, "--adapter", "caddyfile"}
	if adminAPI {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "adapt", "--config", cf, "--adapter", "caddyfile")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("caddy adapt: %v\n%s", err, stderr.String())
		}
		js := filepath.Join(dir, "caddy.json")
		if err := os.WriteFile(js, stdout.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		run = []string{"run", "--config", js}
		e.files = []string{js}
		e.mk = func(o ...Option) Driver { return NewCaddyAdmin(admin, o...) }
	}
	startProc(t, filepath.Join(dir, "caddy.log"), bin, run...).waitServing(t, e.url, "A")
	if w := caddyWarnings(); w != nil {
		e.reloadResets = w[0]
	}
	e.reject = func(ctx context.Context, a, b string) error {
		return e.mk(withRender(badPolicy)).Switch(ctx, []string{b, a})
	}
	return e
}

// upstreamInclude is the include examples/nginx/ten.conf documents.
var upstreamInclude = nginxconf.Upstream("127.0.0.1:8080")

// nginxEnv: nginx -c nginx.conf -p dir -g 'daemon off;' with the example
// ten.conf and the upstream include it documents.
func nginxEnv(t *testing.T, upstream string) *env {
	bin := needBinary(t, "nginx")
	dir := t.TempDir()
	port := testbin.FreePorts(t, 1)[0]
	conf := readExample(t, "nginx/ten.conf")
	conf = replaceOnce(t, conf, "    listen 80;\n", fmt.Sprintf("    listen 127.0.0.1:%d;\n", port))
	conf = replaceOnce(t, conf, "    listen [::]:80;\n", "")
	inc := strings.Replace(upstreamInclude, "127.0.0.1:8080", upstream, 1)
	main := nginxconf.HTTP(dir, "include ten.conf;")
	files := map[string]string{"nginx.conf": main, "ten.conf": conf, "ten-upstream.conf": inc}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mainConf := filepath.Join(dir, "nginx.conf")
	errLog := filepath.Join(dir, "error.log")
	p := startProc(t, filepath.Join(dir, "nginx.out"), bin, "-c", mainConf, "-p", dir, "-e", errLog, "-g", "daemon off;")
	p.Log = errLog
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	p.waitServing(t, url, "A")
	opts := []Option{WithBinary(bin), WithNginxConfig(mainConf), WithNginxPrefix(dir),
		WithNginxArgs("-e", errLog), WithPIDFile(filepath.Join(dir, "nginx.pid"))}
	include := filepath.Join(dir, "ten-upstream.conf")
	e := &env{
		url:   url,
		mk:    func(o ...Option) Driver { return NewNginx(include, append(slices.Clone(opts), o...)...) },
		files: []string{include, mainConf, filepath.Join(dir, "ten.conf")},
	}
	e.reject = func(ctx context.Context, a, b string) error {
		return e.mk().Switch(ctx, []string{"no-such-host.invalid:8080"})
	}
	return e
}

var envs = []struct {
	name string
	mk   envMaker
}{
	{"caddy-admin", func(t *testing.T, upstream string) *env { return caddyEnv(t, upstream, true) }},
	{"caddyfile", func(t *testing.T, upstream string) *env { return caddyEnv(t, upstream, false) }},
	{"nginx", nginxEnv},
}

// --- scenarios ----------------------------------------------------------------

func TestDrivers(t *testing.T) {
	for _, e := range envs {
		t.Run(e.name, func(t *testing.T) {
			t.Run("SwitchUnderLoad", func(t *testing.T) { testSwitchUnderLoad(t, e.mk) })
			t.Run("KillOldDuringFailover", func(t *testing.T) { testKillOld(t, e.mk) })
			t.Run("NewRefusesFailOverToOld", func(t *testing.T) { testNewRefuses(t, e.mk) })
			t.Run("RejectedChangeLeavesEverything", func(t *testing.T) { testRejected(t, e.mk) })
		})
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantUpstreams(t *testing.T, d Driver, want ...string) []byte {
	t.Helper()
	got, snap, err := d.Current(testCtx(t))
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Current = %v, want %v", got, want)
	}
	if len(snap) == 0 {
		t.Fatal("Current returned an empty snapshot")
	}
	return snap
}

func readFiles(t *testing.T, paths []string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = b
		out[p+" (mode)"] = []byte(fi.Mode().String())
	}
	// Temporary files must not be left next to them.
	for _, p := range paths {
		ents, _ := os.ReadDir(filepath.Dir(p))
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp-") {
				out["stray "+e.Name()] = nil
			}
		}
	}
	return out
}

func sameFiles(t *testing.T, before, after map[string][]byte) {
	t.Helper()
	for k, v := range before {
		if w, ok := after[k]; !ok || !bytes.Equal(v, w) {
			t.Errorf("%s changed:\n--- before\n%s\n--- after\n%s", k, v, w)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s appeared", k)
		}
	}
}

func sameJSON(t *testing.T, what string, a, b []byte) {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	if !bytes.Equal(xs, ys) {
		t.Errorf("%s differs:\n%s\n%s", what, xs, ys)
	}
}

// onlyFrom checks that every request of st succeeded and reached backend.
func onlyFrom(t *testing.T, e *env, what string, st stats, backend string) {
	t.Helper()
	if st.total == 0 {
		t.Errorf("%s: no requests", what)
		return
	}
	if st.hard(e) > 0 || st.by[backend] != st.total-(st.failed-st.hard(e)) {
		t.Errorf("%s: want every request served by %s, got %v; errors: %v", what, backend, st, st.errs)
	}
}

// straggle is how long after a change returns a request may still be
// answered by the previous configuration: Caddy and nginx let the old
// server (or worker) finish connections it had already accepted, and a
// rare accept race in Caddy's shared listener hands it one more.
const straggle = 250 * time.Millisecond

// afterChange checks the requests that started in [from, to): none
// failed, and every one reached want, except that those in the first
// straggle may also have reached a backend of the previous configuration.
func afterChange(t *testing.T, e *env, what string, l *load, from, to time.Time, want string, prev ...string) {
	t.Helper()
	early := l.stats(from, from.Add(straggle))
	if !to.IsZero() && to.Before(from.Add(straggle)) {
		early = l.stats(from, to)
	}
	if early.hard(e) > 0 {
		t.Errorf("%s: %d requests failed: %v", what, early.hard(e), early.errs)
	}
	for backend, n := range early.by {
		if backend != want && !slices.Contains(prev, backend) {
			t.Errorf("%s: %d requests reached %s, which is in neither the new nor the previous configuration", what, n, backend)
		} else if backend != want {
			t.Logf("%s: %d requests in the first %s still answered by the previous configuration (%s)", what, n, straggle, backend)
		}
	}
	if to.IsZero() || to.After(from.Add(straggle)) {
		onlyFrom(t, e, what, l.stats(from.Add(straggle), to), want)
	}
}

// noFailures checks the whole run and reports it.
func noFailures(t *testing.T, e *env, st stats) {
	t.Helper()
	if st.hard(e) > 0 {
		t.Errorf("%d of %d requests failed: %v", st.hard(e), st.total, st.errs)
	}
	if st.resets > 0 && e.reloadResets != "" {
		t.Logf("tolerated %d reset new connections: %s", st.resets, e.reloadResets)
	}
}

func timed(t *testing.T, what string, f func() error) (time.Time, time.Time) {
	t.Helper()
	start := time.Now()
	if err := f(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	end := time.Now()
	t.Logf("%s took %s", what, end.Sub(start).Round(time.Millisecond))
	return start, end
}

// testSwitchUnderLoad: [A] -> [B, A] -> [B] -> Restore -> [A] under
// constant load: no request fails, and once a change has returned every
// new request reaches the expected backend.
func testSwitchUnderLoad(t *testing.T, mk envMaker) {
	a, b := startBackend(t, "A"), startBackend(t, "B")
	e := mk(t, a.addr)
	d := e.mk()
	ctx := testCtx(t)
	snap := wantUpstreams(t, d, a.addr)
	files := readFiles(t, e.files)
	var state []byte
	if e.state != nil {
		state = e.state(t)
	}

	l := startLoad(t, e.url)
	l.more(t, 100)
	s1, e1 := timed(t, "Switch([B, A])", func() error { return d.Switch(ctx, []string{b.addr, a.addr}) })
	if err := Probe(ctx, nil, e.url, probeHost, "B"); err != nil {
		t.Fatal(err)
	}
	l.more(t, 150)
	s2, e2 := timed(t, "Switch([B])", func() error { return d.Switch(ctx, []string{b.addr}) })
	wantUpstreams(t, d, b.addr)
	l.more(t, 150)
	s3, e3 := timed(t, "Restore(snapshot)", func() error { return d.Restore(ctx, snap) })
	if err := Probe(ctx, nil, e.url, probeHost, "A"); err != nil {
		t.Fatal(err)
	}
	l.more(t, 150)
	l.halt()

	all := l.stats(time.Time{}, time.Time{})
	t.Logf("RESULT switch under load: %v (first switch %v, second %v, restore %v)",
		all, l.stats(s1, e1), l.stats(s2, e2), l.stats(s3, e3))
	noFailures(t, e, all)
	onlyFrom(t, e, "before the switch", l.stats(time.Time{}, s1), "A")
	afterChange(t, e, "after Switch([B, A])", l, e1, s2, "B", "A")
	afterChange(t, e, "after Switch([B])", l, e2, s3, "B", "B", "A")
	afterChange(t, e, "after Restore", l, e3, time.Time{}, "A", "B")

	wantUpstreams(t, d, a.addr)
	sameFiles(t, files, readFiles(t, e.files))
	if e.state != nil {
		sameJSON(t, "the running config after Restore vs before the switch", state, e.state(t))
	}
}

// testKillOld: [B, A] under load, then A dies abruptly (the old server
// stopped after the switch): no request fails.
func testKillOld(t *testing.T, mk envMaker) {
	a, b := startBackend(t, "A"), startBackend(t, "B")
	e := mk(t, a.addr)
	d := e.mk()
	ctx := testCtx(t)
	l := startLoad(t, e.url)
	l.more(t, 60)
	timed(t, "Switch([B, A])", func() error { return d.Switch(ctx, []string{b.addr, a.addr}) })
	l.more(t, 60)
	killed := time.Now()
	a.kill()
	l.more(t, 150)
	l.halt()
	all := l.stats(time.Time{}, time.Time{})
	t.Logf("RESULT kill old during [B, A]: %v", all)
	noFailures(t, e, all)
	onlyFrom(t, e, "after A was killed", l.stats(killed, time.Time{}), "B")
}

// testNewRefuses: [B, A] with B refusing connections: every request fails
// over to A, POSTs included.
func testNewRefuses(t *testing.T, mk envMaker) {
	a := startBackend(t, "A")
	dead := deadAddr(t)
	e := mk(t, a.addr)
	d := e.mk()
	ctx := testCtx(t)
	l := startLoad(t, e.url)
	l.more(t, 60)
	_, done := timed(t, "Switch([dead B, A])", func() error { return d.Switch(ctx, []string{dead, a.addr}) })
	wantUpstreams(t, d, dead, a.addr)
	l.more(t, 200)
	l.halt()
	all := l.stats(time.Time{}, time.Time{})
	after := l.stats(done, time.Time{})
	t.Logf("RESULT new refuses, fail-over to old: %v (after the switch: %v)", all, after)
	noFailures(t, e, all)
	onlyFrom(t, e, "after the switch", after, "A")
}

// testRejected: a change the proxy refuses leaves the running proxy and
// its files exactly as they were.
func testRejected(t *testing.T, mk envMaker) {
	a, b := startBackend(t, "A"), startBackend(t, "B")
	e := mk(t, a.addr)
	ctx := testCtx(t)
	files := readFiles(t, e.files)
	var state []byte
	if e.state != nil {
		state = e.state(t)
	}
	err := e.reject(ctx, a.addr, b.addr)
	if err == nil {
		t.Fatal("the invalid change was accepted")
	}
	if !errors.Is(err, ErrRejected) {
		t.Errorf("error does not wrap ErrRejected: %v", err)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "previous config is still active") && !strings.Contains(err.Error(), "still runs the previous config") {
		t.Errorf("the error does not say the previous config is active: %v", err)
	}
	sameFiles(t, files, readFiles(t, e.files))
	if e.state != nil {
		if got := e.state(t); !bytes.Equal(got, state) {
			t.Errorf("running config changed:\n%s\n%s", state, got)
		}
	}
	if err := Probe(ctx, nil, e.url, probeHost, "A"); err != nil {
		t.Fatal(err)
	}
	wantUpstreams(t, e.mk(), a.addr)
	l := startLoad(t, e.url)
	l.more(t, 30)
	l.halt()
	onlyFrom(t, e, "after the rejected change", l.stats(time.Time{}, time.Time{}), "A")
}
