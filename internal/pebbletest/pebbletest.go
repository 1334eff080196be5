// Package pebbletest runs a real ACME server for tests: pebble, the
// Let's Encrypt test CA (Debian package pebble). By default its challenge
// validation is off (PEBBLE_VA_ALWAYS_VALID); with Options.Validate it
// validates for real, against ports on 127.0.0.1, every name resolving
// there through pebble-challtestsrv's DNS.
//
//	p := pebbletest.Start(t, pebbletest.Options{})
//	// ACME directory: p.DirectoryURL; its HTTPS is signed by p.CAFile.
//	roots := p.IssuerRoots(t) // what issued certificates chain to
package pebbletest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tenement/ten/internal/syncbuf"
)

// Pebble is a running pebble.
type Pebble struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// CAFile is the PEM root that signs pebble's own HTTPS (not the
	// certificates it issues): give it to ACME clients as SSL_CERT_FILE.
	CAFile string
	// HTTPClient trusts CAFile.
	HTTPClient *http.Client

	mgmtURL string
}

// Options configure Start.
type Options struct {
	// Validate makes pebble check challenges: HTTP-01 at 127.0.0.1:HTTPPort
	// and TLS-ALPN-01 at 127.0.0.1:TLSPort.
	Validate          bool
	HTTPPort, TLSPort int
}

// Start runs pebble until the test ends. Without pebble installed the
// test is skipped, saying how to install it; a pebble that is installed
// but does not come up fails the test.
func Start(t testing.TB, o Options) *Pebble {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		t.Skip("pebble is not installed; run scripts/install-test-deps (Debian package pebble) to run the ACME tests")
	}
	env := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"} // the ACME client's retry is not under test
	var args []string
	if o.Validate {
		dns := startDNS(t)
		args = append(args, "-dnsserver", dns)
	} else {
		env = append(env, "PEBBLE_VA_ALWAYS_VALID=1")
		o.HTTPPort, o.TLSPort = 5002, 5001 // unused
	}
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := selfCA(t)
	p := &Pebble{CAFile: filepath.Join(dir, "ca.pem")}
	for name, data := range map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	p.HTTPClient = &http.Client{
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool}},
		Timeout:   30 * time.Second,
	}

	// pebble takes fixed addresses from its config: find free ports, and
	// try again in the rare case that one was taken in between.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		wfe, mgmt := freePort(t), freePort(t)
		cfg := map[string]any{"pebble": map[string]any{
			"listenAddress":           wfe,
			"managementListenAddress": mgmt,
			"certificate":             filepath.Join(dir, "cert.pem"),
			"privateKey":              filepath.Join(dir, "key.pem"),
			"httpPort":                o.HTTPPort,
			"tlsPort":                 o.TLSPort,
			"ocspResponderURL":        "",
		}}
		b, _ := json.Marshal(cfg)
		cfgPath := filepath.Join(dir, "pebble-config.json")
		if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
		p.DirectoryURL = "https://" + wfe + "/dir"
		p.mgmtURL = "https://" + mgmt
		if lastErr = p.run(t, bin, append(args, "-config", cfgPath), env); lastErr == nil {
			return p
		}
	}
	t.Fatalf("pebble would not start: %v", lastErr)
	return nil
}

func (p *Pebble) run(t testing.TB, bin string, args, env []string) error {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("pebble exited: %s", out.String())
		default:
		}
		if resp, err := p.HTTPClient.Get(p.DirectoryURL); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Cleanup(func() {
					stop()
					if t.Failed() {
						t.Logf("pebble output:\n%s", out.String())
					}
				})
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return fmt.Errorf("pebble did not answer %s within 20s: %s", p.DirectoryURL, out.String())
}

// startDNS runs pebble-challtestsrv as a DNS server only, answering every
// A query with 127.0.0.1 and no AAAA, and returns its address.
func startDNS(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("pebble-challtestsrv")
	if err != nil {
		t.Skip("pebble-challtestsrv is not installed; run scripts/install-test-deps (Debian package pebble)")
	}
	for attempt := 0; attempt < 3; attempt++ {
		addr, mgmt := freePort(t), freePort(t)
		cmd := exec.Command(bin, "-dns01", addr, "-management", mgmt, "-http01", "", "-https01", "",
			"-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
		out := &syncbuf.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		// Its management port answers once it serves; the DNS port (UDP
		// and TCP) is opened before it.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				deadline = time.Time{}
				continue
			default:
			}
			if c, err := net.Dial("tcp", mgmt); err == nil {
				c.Close()
				t.Cleanup(func() { cmd.Process.Kill(); <-exited })
				return addr
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Kill()
		<-exited
		t.Logf("pebble-challtestsrv did not start (attempt %d): %s", attempt+1, out.String())
	}
	t.Fatal("pebble-challtestsrv would not start")
	return ""
}

// IssuerRoots returns the root that pebble's certificates chain to, from
// its management interface. pebble makes a new one at each start.
func (p *Pebble) IssuerRoots(t testing.TB) (pemData []byte, pool *x509.CertPool) {
	t.Helper()
	resp, err := p.HTTPClient.Get(p.mgmtURL + "/roots/0")
	if err != nil {
		t.Fatalf("pebble root: %v", err)
	}
	defer resp.Body.Close()
	pemData, err = io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble root: %d %v", resp.StatusCode, err)
	}
	pool = x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("pebble root is not PEM: %q", pemData)
	}
	return pemData, pool
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// selfCA makes a CA and a certificate for 127.0.0.1 / localhost signed by
// it, for pebble's own HTTPS.
func selfCA(t testing.TB) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pebbletest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
