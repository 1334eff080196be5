package orchestrator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tenement/ten/internal/loadgen"
	tensite "github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/orchestrator/proxy"
)

// frontProxy is a real Caddy or nginx in front of the site, and how to
// make it reject every change.
type frontProxy struct {
	*tensite.Front
	break_ func(t *testing.T)
}

// startCaddy runs Caddy from a Caddyfile, managed through its admin API,
// with a TLS site whose certificate files the test can remove to make
// every later /load fail.
func (s *site) startCaddy() *frontProxy {
	t := s.t
	tlsPort, err := tensite.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cert, key := selfSigned(t, t.TempDir())
	f := s.MustFront(t, "caddy", fmt.Sprintf("https://localhost:%d {\n\tbind 127.0.0.1\n\ttls %s %s\n\trespond \"tls\"\n}\n", tlsPort, cert, key))
	return &frontProxy{Front: f, break_: func(t *testing.T) {
		os.Remove(cert)
		os.Remove(key)
	}}
}

// startNginx runs nginx with ten's upstream in an include file.
func (s *site) startNginx() *frontProxy {
	f := s.MustFront(s.t, "nginx", "")
	return &frontProxy{Front: f, break_: func(t *testing.T) {
		f, err := os.OpenFile(f.Conf, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(f, "no_such_directive on;")
		f.Close()
	}}
}

// selfSigned writes a certificate and key for localhost.
func selfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, keyFile
}

// testProxyUpgrade upgrades through a real proxy under load sent through
// it, then rolls back on request.
func testProxyUpgrade(t *testing.T, start func(*site) *frontProxy) {
	s := newSite(t, fromVariant)
	s.start()
	p := start(s)
	pids := s.waitTenants()
	to := tenBinary(t, toVariant)

	w := s.startWriter(p.URL)
	var r result
	res := s.UnderLoad(t, p.URL, 300, func() {
		r = s.upgrade(nil, append([]string{"run", "--binary", to, "--yes", "--json", "--watch", "2s"}, p.Args...)...)
	})
	ok, failed, errs := w.halt()
	s.want(r, 0, ResultCommitted)
	name := filepath.Base(p.Args[3])
	bench(t, "proxy (%s) upgrade: %d/%d requests failed, wall %s (watch 2s), %d/%d API writes failed",
		name, res.Failed, res.Sent, r.took.Round(time.Millisecond), failed, ok+failed)
	if res.Sent < 100 {
		t.Errorf("too little load: %s", res)
	}
	proxyFailures(t, name, "upgrade", res)
	if failed != 0 {
		// A proxy's reload closes its idle keep-alive client connections
		// (docs/upgrading.md, "What clients may notice with a proxy"): a
		// PUT sent on one at that instant fails, and net/http does not
		// retry a PUT. Reported, not failed on; tenant traffic (GETs) is.
		t.Logf("%d API writes failed during the upgrade: %v", failed, errs)
	}
	h, err := tensite.GetHealth(t0ctx(), p.URL)
	if err != nil || h.Version != toVersion {
		t.Fatalf("through the proxy after the upgrade: %+v %v", h, err)
	}
	s.samePIDs2(r.rep.Server, pids)
	if rows := s.weightRows(); rows < ok {
		t.Errorf("deploy_log has %d weight rows, %d writes succeeded", rows, ok)
	}

	var rb result
	res = s.UnderLoad(t, p.URL, 300, func() { rb = s.upgrade(nil, "rollback", "--yes", "--json") })
	s.want(rb, 0, ResultRolledBack)
	bench(t, "proxy (%s) rollback: %d/%d requests failed, wall %s", name, res.Failed, res.Sent, rb.took.Round(time.Millisecond))
	proxyFailures(t, name, "rollback", res)
	h, err = tensite.GetHealth(t0ctx(), p.URL)
	if err != nil || h.Version != fromVersion {
		t.Fatalf("through the proxy after the rollback: %+v %v", h, err)
	}
	s.waitVersion(fromVersion, 5*time.Second)
	s.samePIDs(pids)
	s.oneServer()
}

// proxyFailures fails the test on any failed request, except connections
// reset by Caddy itself where the kernel cannot prevent it: each Caddy
// config change swaps its SO_REUSEPORT listening socket, and without
// net.ipv4.tcp_migrate_req=1 the connections still waiting to be accepted
// on the old socket are reset (ten-upgrade warns about it; with the
// setting, these tests see none). That is reported, not hidden.
func proxyFailures(t *testing.T, name, what string, res *loadgen.Result) {
	t.Helper()
	if res.Failed == 0 {
		return
	}
	if name == "caddy" && res.ByKind["reset"] == res.Failed {
		if w := proxy.NewCaddyAdmin("").(proxy.Warner).Warnings(); len(w) > 0 {
			t.Logf("BENCH KNOWN caddy reload reset during the %s: %s (%s)", what, res, w[0])
			return
		}
	}
	t.Errorf("load through the proxy during the %s: %s", what, res)
}

func TestRunProxyCaddy(t *testing.T) { testProxyUpgrade(t, (*site).startCaddy) }
func TestRunProxyNginx(t *testing.T) { testProxyUpgrade(t, (*site).startNginx) }
