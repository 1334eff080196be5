package tlsserve

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/internal/pebbletest"
	"github.com/tenement/ten/internal/syncbuf"
)

// onlyAlice is the host policy of these tests: the router would send
// alice.app.example.test somewhere, and nothing else.
func onlyAlice(_ context.Context, host string) error {
	if host == "alice.app.example.test" {
		return nil
	}
	return errors.New("routes nowhere")
}

// served is a Manager behind real listeners: HTTPS and the HTTP port.
type served struct {
	mgr       *Manager
	httpsAddr string
	httpAddr  string
	cacheDir  string
}

// listenPair opens the two listeners first, so that their ports can be
// given to pebble before the Manager exists.
func listenPair(t *testing.T) (https, plain net.Listener) {
	t.Helper()
	var err error
	if https, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if plain, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return https, plain
}

func serve(t *testing.T, st *Settings, httpClient *http.Client, httpsLn, httpLn net.Listener) *served {
	t.Helper()
	mgr, err := New(Options{Settings: st, Allow: onlyAlice, HTTPSPort: port(httpsLn), HTTPClient: httpClient})
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello "+r.Host) })
	for _, s := range []struct {
		srv *http.Server
		ln  net.Listener
	}{
		{&http.Server{Handler: ok}, tls.NewListener(httpsLn, mgr.TLSConfig())},
		{&http.Server{Handler: mgr.HTTPHandler()}, httpLn},
	} {
		go s.srv.Serve(s.ln)
		t.Cleanup(func() { s.srv.Close() })
	}
	return &served{mgr: mgr, httpsAddr: httpsLn.Addr().String(), httpAddr: httpLn.Addr().String(), cacheDir: st.CacheDir}
}

func port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// get fetches https://host/ from the server, verifying the certificate
// against roots for that host name.
func (s *served) get(host string, roots *x509.CertPool) (*http.Response, error) {
	c := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, s.httpsAddr)
			},
		},
		Timeout: time.Minute,
	}
	resp, err := c.Get("https://" + host + "/")
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

func acmeSettings(t *testing.T, p *pebbletest.Pebble) *Settings {
	return &Settings{Domain: "example.test", Email: "ops@example.test", DirectoryURL: p.DirectoryURL,
		CacheDir: filepath.Join(t.TempDir(), "acme")}
}

func TestOnDemandCertificatesOnlyForRoutableHosts(t *testing.T) {
	p := pebbletest.Start(t, pebbletest.Options{})
	httpsLn, httpLn := listenPair(t)
	s := serve(t, acmeSettings(t, p), p.HTTPClient, httpsLn, httpLn)
	_, roots := p.IssuerRoots(t)

	resp, err := s.get("alice.app.example.test", roots)
	if err != nil {
		t.Fatalf("routable host: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("routable host: %s", resp.Status)
	}
	if got := resp.TLS.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != "alice.app.example.test" {
		t.Errorf("certificate names %v", got)
	}

	for _, host := range []string{"junk.app.example.test", "bob.nowhere.example.test", "example.org"} {
		if _, err := s.get(host, roots); err == nil {
			t.Errorf("%s: handshake succeeded; want it refused", host)
		}
		if _, err := os.Stat(filepath.Join(s.cacheDir, host)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a certificate was stored (%v)", host, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.cacheDir, "alice.app.example.test")); err != nil {
		t.Errorf("certificate of the routable host not cached: %v", err)
	}
}

func TestPrefetchCertifiesBaseDomain(t *testing.T) {
	p := pebbletest.Start(t, pebbletest.Options{})
	httpsLn, httpLn := listenPair(t)
	s := serve(t, acmeSettings(t, p), p.HTTPClient, httpsLn, httpLn)
	s.mgr.Prefetch(context.Background())
	if _, err := os.Stat(filepath.Join(s.cacheDir, "example.test")); err != nil {
		t.Fatalf("base domain certificate not cached after Prefetch: %v", err)
	}
	_, roots := p.IssuerRoots(t)
	if _, err := s.get("example.test", roots); err != nil {
		t.Fatalf("base domain: %v", err)
	}
}

// With validation on, pebble connects back: TLS-ALPN-01 on the HTTPS port.
func TestTLSALPNChallengeValidated(t *testing.T) {
	httpsLn, httpLn := listenPair(t)
	p := pebbletest.Start(t, pebbletest.Options{Validate: true, TLSPort: port(httpsLn), HTTPPort: closedPort(t)})
	s := serve(t, acmeSettings(t, p), p.HTTPClient, httpsLn, httpLn)
	_, roots := p.IssuerRoots(t)
	if _, err := s.get("alice.app.example.test", roots); err != nil {
		t.Fatalf("TLS-ALPN-01: %v", err)
	}
}

// closedPort is a port on 127.0.0.1 nothing listens on.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return port(ln)
}

func TestHTTPPortRedirects(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir, "example.test")
	tests := []struct {
		httpsPort int
		host      string
		path      string
		want      int
		location  string
	}{
		{8443, "alice.app.example.test", "/a/b?c=d", http.StatusPermanentRedirect, "https://alice.app.example.test:8443/a/b?c=d"},
		{443, "alice.app.example.test:80", "/", http.StatusPermanentRedirect, "https://alice.app.example.test/"},
		{443, "EXAMPLE.test", "/x", http.StatusPermanentRedirect, "https://EXAMPLE.test/x"},
		{443, "junk.app.example.test", "/", http.StatusNotFound, ""},
		{443, "127.0.0.1", "/api/instances", http.StatusNotFound, ""},
	}
	// The HTTP-01 path goes to the ACME client (which knows no such token
	// here), not to the redirect.
	t.Run("challenge path", func(t *testing.T) {
		mgr, err := New(Options{
			Settings:  &Settings{Domain: "example.test", Email: "a@example.test", DirectoryURL: "https://127.0.0.1:1/dir", CacheDir: t.TempDir()},
			Allow:     onlyAlice,
			HTTPSPort: 443,
		})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "http://alice.app.example.test/.well-known/acme-challenge/no-such-token", nil)
		rec := httptest.NewRecorder()
		mgr.HTTPHandler().ServeHTTP(rec, req)
		if rec.Code == http.StatusPermanentRedirect || rec.Code == http.StatusOK {
			t.Errorf("challenge path answered %d %q; want the ACME client's refusal", rec.Code, rec.Header().Get("Location"))
		}
		if !strings.Contains(rec.Body.String(), "acme/autocert") {
			t.Errorf("challenge path body %q does not come from the ACME client", rec.Body.String())
		}
	})
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s%s@%d", tt.host, tt.path, tt.httpsPort), func(t *testing.T) {
			mgr, err := New(Options{
				Settings:  &Settings{Domain: "example.test", CertFile: certFile, KeyFile: keyFile},
				Allow:     onlyAlice,
				HTTPSPort: tt.httpsPort,
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: mgr.HTTPHandler()}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln)
			defer srv.Close()
			req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+tt.path, nil)
			req.Host = tt.host
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want || resp.Header.Get("Location") != tt.location {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, resp.Header.Get("Location"), tt.want, tt.location)
			}
		})
	}
}

func TestOwnCertificateServed(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir, "example.test", "*.app.example.test")
	httpsLn, httpLn := listenPair(t)
	s := serve(t, &Settings{Domain: "example.test", CertFile: certFile, KeyFile: keyFile}, nil, httpsLn, httpLn)
	pemData, _ := os.ReadFile(certFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemData)
	resp, err := s.get("alice.app.example.test", roots)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("own-certificate mode wrote files: %v", entries)
	}
}

// writeSelfSigned writes a self-signed certificate for names and its key.
func writeSelfSigned(t *testing.T, dir string, names ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// A routable host the CA fails to certify is an error in the log; a name
// that routes nowhere is only a debug line.
func TestHandshakeFailuresLogged(t *testing.T) {
	var buf syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mgr, err := New(Options{
		// Nothing listens on port 1: the CA is down.
		Settings:   &Settings{Domain: "example.test", Email: "a@example.test", DirectoryURL: "https://127.0.0.1:1/dir", CacheDir: t.TempDir()},
		Allow:      onlyAlice,
		HTTPSPort:  443,
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
		Logger:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := mgr.TLSConfig()
	for _, name := range []string{"alice.app.example.test", "junk.app.example.test"} {
		if _, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: name}); err == nil {
			t.Fatalf("%s: got a certificate from a CA that is down", name)
		}
	}
	out := buf.String()
	for _, want := range []string{
		`level=ERROR msg="TLS handshake without certificate" server_name=alice.app.example.test`,
		`level=DEBUG msg="TLS handshake without certificate" server_name=junk.app.example.test`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
