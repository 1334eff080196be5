package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/internal/pebbletest"
	"github.com/tenement/ten/internal/proc"
	tensite "github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/runtime/api"
)

var tlsConfig = settings + tensite.TestappService("app")

// tlsServer is a `ten serve --tls` against pebble.
type tlsServer struct {
	*server
	httpsPort string
	httpPort  string
	rootFile  string // pebble's issuing root, for curl
	roots     *x509.CertPool
}

var tlsListenRE = regexp.MustCompile(`msg="ten listening \(TLS\)".* https=\S+:(\d+) http=\S+:(\d+)`)

// startTLS starts pebble and `ten serve --tls` using it as its ACME CA.
func startTLS(t *testing.T, e *env) *tlsServer {
	t.Helper()
	p := pebbletest.Start(t, pebbletest.Options{})
	// pebble's directory is HTTPS under a CA of the test's making: ten
	// trusts it the way an operator of a private CA would.
	t.Setenv("SSL_CERT_FILE", p.CAFile)
	s := e.startServerArgs(t, "--domain", "example.test", "--tls", "--email", "ops@example.test",
		"--acme-directory", p.DirectoryURL, "--tls-host", "127.0.0.1", "--https-port", "0", "--http-port", "0")
	ts := &tlsServer{server: s}
	waitFor(t, "the TLS listeners", 10*time.Second, func() bool {
		m := tlsListenRE.FindStringSubmatch(s.out.String())
		if m != nil {
			ts.httpsPort, ts.httpPort = m[1], m[2]
		}
		return m != nil
	})
	var rootPEM []byte
	rootPEM, ts.roots = p.IssuerRoots(t)
	ts.rootFile = filepath.Join(e.dir, "pebble-root.pem")
	if err := os.WriteFile(ts.rootFile, rootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return ts
}

// curl runs curl with host resolved to 127.0.0.1, verifying against
// pebble's root, and returns its exit code and output.
func (ts *tlsServer) curl(t *testing.T, url string, args ...string) (int, string) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed (Debian package curl)")
	}
	host := strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	h, port, _ := net.SplitHostPort(host)
	args = append([]string{"--silent", "--show-error", "--max-time", "60", "--cacert", ts.rootFile,
		"--resolve", h + ":" + port + ":127.0.0.1"}, append(args, url)...)
	out, err := exec.Command("curl", args...).CombinedOutput()
	code, err := proc.ExitCode(err)
	if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// leaf does a TLS handshake for host and returns the verified leaf.
func (ts *tlsServer) leaf(t *testing.T, host string) *x509.Certificate {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Minute}, "tcp", "127.0.0.1:"+ts.httpsPort,
		&tls.Config{ServerName: host, RootCAs: ts.roots})
	if err != nil {
		t.Fatalf("TLS handshake for %s: %v", host, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

func TestTLSCurlReachesTenantWithPebbleCertificate(t *testing.T) {
	e := newEnv(t, tlsConfig)
	ts := startTLS(t, e)

	// The tenant host: a certificate on demand, the request proxied.
	url := "https://alice.app.example.test:" + ts.httpsPort + "/hello"
	code, out := ts.curl(t, url)
	if code != 0 {
		t.Fatalf("curl %s: exit %d: %s", url, code, out)
	}
	var ti tenantInfo
	if err := json.Unmarshal([]byte(out), &ti); err != nil || ti.Name != "alice" || ti.Path != "/hello" {
		t.Fatalf("curl %s: %q (%v)", url, out, err)
	}
	if got := ti.Headers["X-Forwarded-Proto"]; len(got) != 1 || got[0] != "https" {
		t.Errorf("tenant saw X-Forwarded-Proto %v, want https", got)
	}

	// The base domain: certified at start, serving the API.
	code, out = ts.curl(t, "https://example.test:"+ts.httpsPort+"/health")
	var h api.Health
	if code != 0 || json.Unmarshal([]byte(out), &h) != nil || h.Status != "ok" {
		t.Fatalf("curl https://example.test/health: exit %d: %s", code, out)
	}

	// Names that route nowhere: no certificate, nothing asked of the CA.
	for _, host := range []string{"bob.nosuchservice.example.test", "a.b.app.example.test", "evil.test"} {
		code, out := ts.curl(t, "https://"+host+":"+ts.httpsPort+"/")
		if code == 0 {
			t.Errorf("%s: curl succeeded: %s", host, out)
		}
		if _, err := os.Stat(filepath.Join(e.dataDir, "acme", host)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a certificate was stored (%v)", host, err)
		}
	}
	for _, host := range []string{"example.test", "alice.app.example.test"} {
		if _, err := os.Stat(filepath.Join(e.dataDir, "acme", host)); err != nil {
			t.Errorf("certificate for %s not under data_dir/acme: %v", host, err)
		}
	}

	// The HTTP port redirects to HTTPS, keeping path and query.
	code, out = ts.curl(t, "http://alice.app.example.test:"+ts.httpPort+"/a?b=c",
		"--output", "/dev/null", "--write-out", "%{http_code} %{redirect_url}")
	if want := "308 https://alice.app.example.test:" + ts.httpsPort + "/a?b=c"; code != 0 || out != want {
		t.Errorf("redirect: exit %d %q, want %q", code, out, want)
	}
	code, out = ts.curl(t, "http://junk.nosuchservice.example.test:"+ts.httpPort+"/",
		"--output", "/dev/null", "--write-out", "%{http_code}")
	if code != 0 || out != "404" {
		t.Errorf("redirect port for a host that routes nowhere: exit %d %q, want 404", code, out)
	}
}

var obtainedRE = regexp.MustCompile(`msg="obtained certificate".* host=(\S+)`)

// TestTLSHandoffKeepsListenersAndCertificates upgrades a --tls server in
// place: the new binary serves the same HTTPS and HTTP ports and the same
// certificates, without asking the CA again.
func TestTLSHandoffKeepsListenersAndCertificates(t *testing.T) {
	e := newEnv(t, tlsConfig)
	ts := startTLS(t, e)
	before := map[string]string{}
	for _, host := range []string{"alice.app.example.test", "example.test"} {
		before[host] = ts.leaf(t, host).SerialNumber.String()
	}
	// The log lines travel through a pipe: wait for them.
	const obtained = 2 // the domain and alice
	waitFor(t, "the certificates' log lines", 10*time.Second, func() bool {
		return len(obtainedRE.FindAllString(ts.out.String(), -1)) == obtained
	})

	newPID := ts.handoff(t)

	// Same HTTPS port, now answered by the new process.
	code, out := ts.curl(t, "https://example.test:"+ts.httpsPort+"/health")
	var h api.Health
	if code != 0 || json.Unmarshal([]byte(out), &h) != nil || h.PID != newPID || h.Version != "9.9.9" {
		t.Fatalf("after handoff, https://example.test/health: exit %d %s; want pid %d version 9.9.9", code, out, newPID)
	}
	for host, serial := range before {
		if got := ts.leaf(t, host).SerialNumber.String(); got != serial {
			t.Errorf("%s: certificate serial %s after handoff, was %s: it was requested again", host, got, serial)
		}
	}
	code, out = ts.curl(t, "https://alice.app.example.test:"+ts.httpsPort+"/")
	if code != 0 || !strings.Contains(out, `"name":"alice"`) {
		t.Errorf("tenant over HTTPS after handoff: exit %d %s", code, out)
	}
	code, out = ts.curl(t, "http://alice.app.example.test:"+ts.httpPort+"/", "--output", "/dev/null", "--write-out", "%{http_code}")
	if code != 0 || out != "308" {
		t.Errorf("HTTP port after handoff: exit %d %q, want 308", code, out)
	}
	// The new server logs "certificate ready" for the domain once it has
	// loaded it: by then it would also have logged obtaining it.
	waitFor(t, "the new server's certificate", 10*time.Second, func() bool {
		return strings.Count(ts.out.String(), `msg="certificate ready"`) == 2
	})
	if n := len(obtainedRE.FindAllString(ts.out.String(), -1)); n != obtained {
		t.Errorf("the new server obtained %d certificates; it should have reused the cache:\n%s", n-obtained, ts.out.String())
	}

	syscall.Kill(newPID, syscall.SIGTERM)
	waitGone(t, newPID, 30*time.Second)
}
