package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	for name, want := range map[string]string{
		"caddy": "*proxy.caddyAdmin", "nginx": "*proxy.nginxDriver", "none": "proxy.noneDriver", "": "proxy.noneDriver",
	} {
		d, err := New(name)
		if err != nil {
			t.Fatalf("New(%q): %v", name, err)
		}
		if got := fmt.Sprintf("%T", d); got != want {
			t.Errorf("New(%q) = %s, want %s", name, got, want)
		}
	}
	d, _ := New("caddy", WithCaddyfile("/etc/caddy/Caddyfile"))
	if _, ok := d.(*caddyfileDriver); !ok {
		t.Errorf("New(caddy, WithCaddyfile) = %T", d)
	}
	if d, _ := New("caddy"); d.(*caddyAdmin).url != DefaultCaddyAdminURL {
		t.Errorf("default admin URL = %s", d.(*caddyAdmin).url)
	}
	if d, _ := New("nginx"); d.(*nginxDriver).path != DefaultNginxInclude {
		t.Errorf("default include = %s", d.(*nginxDriver).path)
	}
	if _, err := New("haproxy"); err == nil || !strings.Contains(err.Error(), "caddy, nginx or none") {
		t.Errorf("New(haproxy) error = %v", err)
	}
}

func TestNone(t *testing.T) {
	d := None()
	ctx := context.Background()
	ups, snap, err := d.Current(ctx)
	if ups != nil || snap != nil || err != nil {
		t.Errorf("Current = %v %v %v", ups, snap, err)
	}
	if d.Switch(ctx, []string{"127.0.0.1:1"}) != nil || d.Restore(ctx, nil) != nil || d.Name() != "none" {
		t.Error("none driver is not a no-op")
	}
}

func TestCheckUpstreams(t *testing.T) {
	good := [][]string{{"127.0.0.1:8081"}, {"127.0.0.1:8081", "localhost:8080"}, {"[::1]:80"}, {"ten.internal:8080"}}
	for _, ups := range good {
		if err := checkUpstreams(ups); err != nil {
			t.Errorf("%v: %v", ups, err)
		}
	}
	bad := [][]string{nil, {""}, {"127.0.0.1"}, {"127.0.0.1:0"}, {"127.0.0.1:70000"}, {":8080"},
		{"127.0.0.1:8080; evil"}, {"a:1 b:2"}, {"127.0.0.1:8080", "localhost:8080"}, {"x:1}"}}
	for _, ups := range bad {
		if err := checkUpstreams(ups); err == nil {
			t.Errorf("%q accepted", ups)
		}
	}
}

// --- Caddyfile ---------------------------------------------------------------

func exampleText(t *testing.T, rel string) string {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCaddyfileRewriteExample(t *testing.T) {
	s := newSettings(nil)
	orig := exampleText(t, "caddy/Caddyfile")
	ds, err := parseCaddyfile(splitLines(orig))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || !slices.Equal(ds[0].ups, []string{"127.0.0.1:8080"}) {
		t.Fatalf("parsed %+v", ds)
	}
	two, err := rewriteCaddyfile(orig, []string{"127.0.0.1:8081", "127.0.0.1:8080"}, s)
	if err != nil {
		t.Fatal(err)
	}
	want := "\t# ten-upgrade:begin\n" +
		"\treverse_proxy 127.0.0.1:8081 127.0.0.1:8080 {\n" +
		"\t\tlb_policy first\n\t\tlb_try_duration 5s\n\t\tlb_try_interval 100ms\n" +
		"\t\thealth_uri /health\n\t\thealth_interval 500ms\n\t\thealth_timeout 2s\n" +
		"\t}\n" +
		"\t# ten-upgrade:end\n"
	if !strings.Contains(two, want) {
		t.Fatalf("rendered:\n%s\nwant it to contain:\n%s", two, want)
	}
	if strings.Replace(two, want, "\t# ten-upgrade:begin\n\treverse_proxy 127.0.0.1:8080\n\t# ten-upgrade:end\n", 1) != orig {
		t.Error("text outside the markers changed")
	}
	one, err := rewriteCaddyfile(two, []string{"127.0.0.1:8081"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if one != strings.Replace(orig, "reverse_proxy 127.0.0.1:8080\n", "reverse_proxy 127.0.0.1:8081\n", 1) {
		t.Errorf("[new] is not the original with the address replaced:\n%s", one)
	}
	back, _ := rewriteCaddyfile(one, []string{"127.0.0.1:8080"}, s)
	if back != orig {
		t.Errorf("round trip changed the file:\n%s", back)
	}
	// What the driver writes is what `caddy fmt` writes.
	if bin, err := exec.LookPath("caddy"); err == nil {
		for _, text := range []string{two} {
			f := filepath.Join(t.TempDir(), "Caddyfile")
			os.WriteFile(f, []byte(text), 0o644)
			out, err := exec.Command(bin, "fmt", f).Output()
			if err != nil {
				t.Fatalf("caddy fmt: %v", err)
			}
			if string(out) != text {
				t.Errorf("caddy fmt would change the rendered Caddyfile:\n%s", out)
			}
		}
	}
}

func TestCaddyfileRewriteKeepsOtherSubdirectives(t *testing.T) {
	in := `site.test {
    # ten-upgrade:begin
    reverse_proxy @app http://localhost:8080 {
        to localhost:9000
        lb_policy random_choose 2
        header_up X-Real-IP {remote_host}
        transport http {
            dial_timeout 2s
        }
        lb_try_duration 30s
    }
    # ten-upgrade:end
}
`
	ds, err := parseCaddyfile(splitLines(in))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds[0].ups, []string{"http://localhost:8080", "localhost:9000"}) || ds[0].matcher != "@app" {
		t.Fatalf("parsed %+v", ds[0])
	}
	d := newCaddyfile(filepath.Join(t.TempDir(), "Caddyfile"), newSettings([]Option{WithTryInterval(50 * time.Millisecond)}))
	os.WriteFile(d.path, []byte(in), 0o600)
	ups, snap, err := d.Current(context.Background())
	if err != nil || string(snap) != in || !slices.Equal(ups, []string{"localhost:8080", "localhost:9000"}) {
		t.Fatalf("Current = %v %v", ups, err)
	}
	out, err := rewriteCaddyfile(in, []string{"127.0.0.1:8081", "127.0.0.1:8080"}, d.s)
	if err != nil {
		t.Fatal(err)
	}
	want := `site.test {
    # ten-upgrade:begin
    reverse_proxy @app 127.0.0.1:8081 127.0.0.1:8080 {
        lb_policy first
        lb_try_duration 5s
        lb_try_interval 50ms
        health_uri /health
        health_interval 500ms
        health_timeout 2s
        header_up X-Real-IP {remote_host}
        transport http {
            dial_timeout 2s
        }
    }
    # ten-upgrade:end
}
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	out, _ = rewriteCaddyfile(out, []string{"127.0.0.1:8081"}, d.s)
	if !strings.Contains(out, "    reverse_proxy @app 127.0.0.1:8081 {\n        header_up") {
		t.Errorf("single upstream:\n%s", out)
	}
}

func TestCaddyfileSeveralRegions(t *testing.T) {
	in := "a.test {\n\t# ten-upgrade:begin\n\treverse_proxy 127.0.0.1:8080\n\t# ten-upgrade:end\n}\n" +
		"b.test {\n\treverse_proxy 127.0.0.1:9999\n\t# ten-upgrade:begin\n\treverse_proxy /api/* 127.0.0.1:8080\n\t# ten-upgrade:end\n}\n"
	out, err := rewriteCaddyfile(in, []string{"127.0.0.1:8081"}, newSettings(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer("reverse_proxy 127.0.0.1:8080", "reverse_proxy 127.0.0.1:8081",
		"reverse_proxy /api/* 127.0.0.1:8080", "reverse_proxy /api/* 127.0.0.1:8081").Replace(in)
	if out != want {
		t.Errorf("got:\n%s", out)
	}
}

func TestCaddyfileErrors(t *testing.T) {
	wantRewriteErrors(t, map[string]string{
		"x {\n\treverse_proxy 127.0.0.1:8080\n}\n":                                        "markers",
		"# ten-upgrade:begin\nreverse_proxy a:1\n":                                        "never closed",
		"# ten-upgrade:end\n":                                                             "without",
		"# ten-upgrade:begin\n# ten-upgrade:end\n":                                        "no reverse_proxy",
		"# ten-upgrade:begin\nreverse_proxy a:1 {\n# ten-upgrade:end\n":                   "not closed",
		"# ten-upgrade:begin\nreverse_proxy a:1 { lb_policy first }\n# ten-upgrade:end\n": "mid-line",
	}, func(in string, ups []string) (string, error) { return rewriteCaddyfile(in, ups, newSettings(nil)) })
}

// wantRewriteErrors checks that rewrite refuses each input (key) with an
// error that mentions its value.
func wantRewriteErrors(t *testing.T, cases map[string]string, rewrite func(in string, ups []string) (string, error)) {
	t.Helper()
	for in, want := range cases {
		if _, err := rewrite(in, []string{"127.0.0.1:8081"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to mention %q", in, err, want)
		}
	}
}

// --- nginx -------------------------------------------------------------------

func TestNginxRewrite(t *testing.T) {
	in := "# managed by ten-upgrade\nupstream other {\n    server 10.0.0.1:80;\n}\n" + upstreamInclude
	two, err := rewriteUpstream(in, "ten", []string{"127.0.0.1:8081", "127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	want := "# managed by ten-upgrade\nupstream other {\n    server 10.0.0.1:80;\n}\n" +
		"upstream ten {\n    server 127.0.0.1:8081;\n    server 127.0.0.1:8080 backup;\n    keepalive 16;\n}\n"
	if two != want {
		t.Fatalf("got:\n%s\nwant:\n%s", two, want)
	}
	b, _ := parseUpstream(splitLines(two), "ten")
	if len(b.servers) != 2 || !b.servers[1].has("backup") {
		t.Errorf("parsed %+v", b)
	}
	one, _ := rewriteUpstream(two, "ten", []string{"127.0.0.1:8081"})
	if one != strings.Replace(in, "127.0.0.1:8080", "127.0.0.1:8081", 1) {
		t.Errorf("[new]:\n%s", one)
	}
	// Parameters of a kept server stay; backup and down are the driver's.
	in = "upstream ten {\n\tserver localhost:8080 max_fails=3 fail_timeout=5s down;\n}\n"
	out, _ := rewriteUpstream(in, "ten", []string{"127.0.0.1:8081", "127.0.0.1:8080"})
	if want := "upstream ten {\n\tserver 127.0.0.1:8081;\n\tserver 127.0.0.1:8080 max_fails=3 fail_timeout=5s backup;\n}\n"; out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	// No server yet.
	out, _ = rewriteUpstream("upstream ten {\n}\n", "ten", []string{"127.0.0.1:8081"})
	if out != "upstream ten {\n    server 127.0.0.1:8081;\n}\n" {
		t.Errorf("empty block:\n%s", out)
	}
}

func TestNginxCurrentOrder(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ten-upstream.conf")
	os.WriteFile(f, []byte("upstream ten {\n server b:2 backup;\n server a:1;\n server c:3 down;\n}\n"), 0o644)
	ups, _, err := NewNginx(f).Current(context.Background())
	if err != nil || !slices.Equal(ups, []string{"a:1", "b:2"}) {
		t.Errorf("Current = %v, %v", ups, err)
	}
}

func TestNginxErrors(t *testing.T) {
	wantRewriteErrors(t, map[string]string{
		"upstream other {\n server a:1;\n}\n":           "no `upstream ten {`",
		"upstream ten { server a:1; }\n":                "on one line",
		"upstream ten {\n server a:1; server b:2;\n}\n": "own line",
		"upstream ten {\n server a:1;\n":                "never closed",
	}, func(in string, ups []string) (string, error) { return rewriteUpstream(in, "ten", ups) })
	_, _, err := NewNginx(filepath.Join(t.TempDir(), "missing.conf")).Current(context.Background())
	if err == nil || !strings.Contains(err.Error(), "create it with") {
		t.Errorf("missing include: %v", err)
	}
	// No master running: nothing is written.
	dir := t.TempDir()
	f := filepath.Join(dir, "ten-upstream.conf")
	os.WriteFile(f, []byte(upstreamInclude), 0o640)
	err = NewNginx(f, WithPIDFile(filepath.Join(dir, "nginx.pid")), WithBinary("/bin/true")).Switch(context.Background(), []string{"127.0.0.1:8081"})
	if err == nil || !strings.Contains(err.Error(), "is nginx running") {
		t.Errorf("no master: %v", err)
	}
	if b, _ := os.ReadFile(f); string(b) != upstreamInclude {
		t.Error("the include changed although nginx is not running")
	}
}

// --- Caddy admin ---------------------------------------------------------------

const twoSites = `{
  "admin": {"listen": "127.0.0.1:2019"},
  "apps": {"http": {"servers": {"srv0": {"listen": [":443"], "routes": [
    {"match": [{"host": ["static.test"]}], "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "10.0.0.9:80"}]}]},
    {"@id": "ten", "match": [{"host": ["example.com", "*.example.com"]}], "handle": [{"handler": "subroute", "routes": [
      {"handle": [{"handler": "reverse_proxy", "flush_interval": -1, "upstreams": [{"dial": "localhost:8080", "max_requests": 100}]}]}
    ]}]}
  ]}}}}
}`

func TestCaddyAdminFind(t *testing.T) {
	var cfg any
	if err := decodeJSON([]byte(twoSites), &cfg); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*caddyAdmin{
		"route id": newCaddyAdmin("http://x", newSettings([]Option{WithRouteID("ten")})),
		"match":    newCaddyAdmin("http://x", newSettings([]Option{WithMatch("127.0.0.1:8080")})),
	} {
		hs, err := c.find(cfg, nil)
		if err != nil || len(hs) != 1 || !slices.Equal(dialsOf(hs[0].obj), []string{"localhost:8080"}) {
			t.Errorf("%s: %v %v", name, hs, err)
		}
	}
	c := newCaddyAdmin("http://x", newSettings(nil))
	if _, err := c.find(cfg, nil); err == nil || !strings.Contains(err.Error(), `"@id": "ten"`) {
		t.Errorf("ambiguous config: %v", err)
	}
	// The Switch target identifies the handler too (a resumed upgrade).
	if hs, err := c.find(cfg, []string{"127.0.0.1:8081", "127.0.0.1:8080"}); err != nil || len(hs) != 1 {
		t.Errorf("by target: %v %v", hs, err)
	}
	if _, err := newCaddyAdmin("http://x", newSettings([]Option{WithRouteID("nope")})).find(cfg, nil); err == nil {
		t.Error("unknown @id accepted")
	}
}

func TestCaddyAdminRewriteRoundTrip(t *testing.T) {
	var cfg, orig any
	decodeJSON([]byte(twoSites), &cfg)
	decodeJSON([]byte(twoSites), &orig)
	c := newCaddyAdmin("http://x", newSettings([]Option{WithRouteID("ten")}))
	hs, _ := c.find(cfg, nil)
	h := hs[0].obj
	setCaddyUpstreams(h, []string{"127.0.0.1:8081", "127.0.0.1:8080"}, c.s)
	got, _ := marshalJSON(h)
	want := `{"flush_interval":-1,"handler":"reverse_proxy","health_checks":{"active":{"interval":500000000,"timeout":2000000000,"uri":"/health"}},` +
		`"load_balancing":{"selection_policy":{"policy":"first"},"try_duration":5000000000,"try_interval":100000000},` +
		`"upstreams":[{"dial":"127.0.0.1:8081"},{"dial":"127.0.0.1:8080","max_requests":100}]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	setCaddyUpstreams(h, []string{"localhost:8080"}, c.s)
	a, _ := marshalJSON(cfg)
	b, _ := marshalJSON(orig)
	if string(a) != string(b) {
		t.Errorf("switching back changed more than the upstreams:\n%s\n%s", a, b)
	}
}

// A fake admin API: the config is served, /load refuses.
func TestCaddyAdminRefused(t *testing.T) {
	var loads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/config/":
			w.Write([]byte(twoSites))
		case "/load":
			loads.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "loading config: something is wrong"})
		}
	}))
	defer srv.Close()
	d := NewCaddyAdmin(srv.URL, WithRouteID("ten"))
	ups, snap, err := d.Current(context.Background())
	if err != nil || !slices.Equal(ups, []string{"localhost:8080"}) || string(snap) != twoSites {
		t.Fatalf("Current = %v %v", ups, err)
	}
	err = d.Switch(context.Background(), []string{"127.0.0.1:8081", "127.0.0.1:8080"})
	if !errors.Is(err, ErrRejected) || loads.Load() != 1 {
		t.Fatalf("Switch: %v", err)
	}
	for _, part := range []string{"caddy admin API at " + srv.URL + " refused the config", "something is wrong", "the previous config is still active"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not say %q", err, part)
		}
	}
	if err := d.Restore(context.Background(), []byte("not json")); err == nil {
		t.Error("Restore accepted a non-JSON snapshot")
	}
	_, _, err = NewCaddyAdmin("http://127.0.0.1:1").Current(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is not reachable") {
		t.Errorf("unreachable admin: %v", err)
	}
}

// --- Probe -------------------------------------------------------------------

func TestProbe(t *testing.T) {
	var nonce atomic.Value
	nonce.Store("old")
	var host atomic.Value
	var switchAfter atomic.Int32 // the proxy "switches" after that many answers
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host.Store(r.Host)
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		if switchAfter.Add(-1) == 0 {
			nonce.Store("new")
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "ok", "version": "1.0.0", "pid": 7, "nonce": nonce.Load()})
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := Probe(ctx, nil, srv.URL+"/", "example.com", "new")
	if err == nil || !strings.Contains(err.Error(), `another server (nonce "old", version "1.0.0", pid 7)`) {
		t.Fatalf("Probe = %v", err)
	}
	if host.Load() != "example.com" {
		t.Errorf("Host = %v", host.Load())
	}
	switchAfter.Store(3) // the third answer comes from the new server
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := Probe(ctx2, srv.Client(), srv.URL, "example.com", "new"); err != nil {
		t.Fatal(err)
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer bad.Close()
	ctx3, cancel3 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel3()
	if err := Probe(ctx3, nil, bad.URL, "", "x"); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("Probe through a failing proxy = %v", err)
	}
}

func TestMissingBinary(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "Caddyfile")
	text := "x.test {\n\t# ten-upgrade:begin\n\treverse_proxy 127.0.0.1:8080\n\t# ten-upgrade:end\n}\n"
	os.WriteFile(cf, []byte(text), 0o644)
	err := NewCaddyfile(cf, WithBinary(filepath.Join(dir, "no-caddy"))).Switch(context.Background(), []string{"127.0.0.1:8081"})
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "no-caddy not found: install it") {
		t.Errorf("Switch without caddy: %v", err)
	}
	if b, _ := os.ReadFile(cf); string(b) != text {
		t.Error("the Caddyfile changed")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left behind: %v", ents)
	}
}
