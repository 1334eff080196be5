package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tensite "github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/internal/testbin"
)

var caddyConfig = tensite.APIServices + `
[service.web]
command = "@APP@"

[instances]
api = ["alice"]
`

// A Caddy started from `ten caddy` output (with test ports and Caddy's
// internal CA instead of Let's Encrypt) reaches a tenant on a two-label
// host, {id}.{service}.{domain}, and gets certificates only for names ten
// says route somewhere.
func TestCaddyFromTenCaddyReachesTwoLabelTenantHosts(t *testing.T) {
	caddy, err := exec.LookPath("caddy")
	if err != nil {
		t.Skip("caddy is not installed (scripts/install-test-deps installs it)")
	}
	e := newEnv(t, caddyConfig)
	e.adminToken(t)
	s := e.startServerArgs(t, "--domain", "example.test")
	_, tenPort, _ := net.SplitHostPort(s.addr)
	waitFor(t, "api:alice to run", 30*time.Second, func() bool {
		code, _, _ := s.request(t, "GET", "alice.api.example.test", "/", nil, nil)
		return code == 200
	})

	dir := t.TempDir()
	askPort, httpPort, httpsPort := freePort(t), freePort(t), freePort(t)
	cf := filepath.Join(dir, "Caddyfile")
	e.mustCLI(t, nil, "caddy", "--domain", "example.test", "--port", tenPort,
		"--ask-port", strconv.Itoa(askPort), "--output", cf)
	b, err := os.ReadFile(cf)
	if err != nil {
		t.Fatal(err)
	}
	// What an operator's test setup adds: its own ports, Caddy's local CA
	// (no ACME), state and logs in temporary directories.
	storage := filepath.Join(dir, "storage")
	text := strings.Replace(string(b), "{\n\ton_demand_tls {", fmt.Sprintf(`{
	admin off
	local_certs
	skip_install_trust
	http_port %d
	https_port %d
	storage file_system {
		root %s
	}
	on_demand_tls {`, httpPort, httpsPort, storage), 1)
	text = strings.ReplaceAll(text, "/var/log/caddy/", dir+"/")
	if text == string(b) {
		t.Fatal("the generated Caddyfile has no global options block to extend")
	}
	if err := os.WriteFile(cf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	env := append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "HOME="+dir)
	tensite.StartProc(t, env, filepath.Join(dir, "caddy.log"), caddy, "run", "--config", cf, "--adapter", "caddyfile")

	rootPath := filepath.Join(storage, "pki", "authorities", "local", "root.crt")
	waitFor(t, "Caddy's local CA", 30*time.Second, func() bool {
		_, err := os.Stat(rootPath)
		return err == nil
	})
	pem, err := os.ReadFile(rootPath)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in Caddy's root.crt")
	}
	caddyAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(httpsPort))
	client := &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			// Every name resolves to this Caddy; the certificate must verify
			// against Caddy's root for the name asked for.
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, caddyAddr)
			},
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			DisableKeepAlives: true,
		},
	}
	get := func(host, path string) (int, string, error) {
		resp, err := client.Get("https://" + host + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}

	var (
		code int
		body string
	)
	waitFor(t, "Caddy to serve alice.api.example.test", 30*time.Second, func() bool {
		code, body, err = get("alice.api.example.test", "/through-caddy?x=1")
		return err == nil
	})
	var ti tenantInfo
	if code != 200 || json.Unmarshal([]byte(body), &ti) != nil {
		t.Fatalf("GET https://alice.api.example.test/through-caddy: %d %q", code, body)
	}
	if ti.Name != "alice" || ti.Path != "/through-caddy" || ti.Host != "alice.api.example.test" {
		t.Errorf("tenant saw %+v, want alice at /through-caddy for host alice.api.example.test", ti)
	}

	// The service name itself (weighted routing) and ten's own domain.
	if code, body, err := get("api.example.test", "/"); err != nil || code != 200 || !strings.Contains(body, `"name":"alice"`) {
		t.Errorf("https://api.example.test/: %d %q %v", code, body, err)
	}
	if code, body, err := get("example.test", "/health"); err != nil || code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("https://example.test/health: %d %q %v", code, body, err)
	}

	// No such service: ten says no, so Caddy gets no certificate and the
	// handshake fails.
	if _, _, err := get("alice.nosuch.example.test", "/"); err == nil {
		t.Error("alice.nosuch.example.test (no such service) got a certificate")
	}
	// A new id of a configured service routes (its first request spawns
	// it): it gets its certificate and the request reaches the new tenant.
	code, body, err = get("bob.api.example.test", "/")
	if err != nil || code != 200 || !strings.Contains(body, `"name":"bob"`) {
		t.Errorf("https://bob.api.example.test/: %d %q %v", code, body, err)
	}
}

// ten answers the on-demand TLS ask itself, without Caddy: yes for its
// domain, a configured service and an id under one, no for the rest.
func TestServeAnswersTheTLSAsk(t *testing.T) {
	e := newEnv(t, caddyConfig)
	s := e.startServerArgs(t, "--domain", "example.test")
	waitFor(t, "api:alice to run", 30*time.Second, func() bool {
		code, _, _ := s.request(t, "GET", "alice.api.example.test", "/", nil, nil)
		return code == 200
	})
	for name, want := range map[string]int{
		"example.test":                  200,
		"api.example.test":              200,
		"web.example.test":              200,
		"alice.api.example.test":        200,
		"bob.api.example.test":          200, // a request would spawn it
		"junk.example.test":             404, // no such service
		"alice.junk.example.test":       404,
		"x.alice.api.example.test":      404, // three labels route nowhere
		"alice.api.example.test.evil.x": 404,
		"alice.api.example.test:443":    404,
	} {
		if code, body, _ := s.request(t, "GET", "127.0.0.1", "/.well-known/ten/tls-ask?domain="+name, nil, nil); code != want {
			t.Errorf("ask %s: %d %q, want %d", name, code, body, want)
		}
	}
	// On a tenant's host the path is the tenant's, not ten's.
	if code, body, _ := s.request(t, "GET", "alice.api.example.test", "/.well-known/ten/tls-ask?domain=junk.example.test", nil, nil); code != 200 || !strings.Contains(body, `"name":"alice"`) {
		t.Errorf("ask path on a tenant host: %d %q, want the tenant's answer", code, body)
	}
}

// freePort is a loopback port nothing listens on.
func freePort(t testing.TB) int { return testbin.FreePorts(t, 1)[0] }
