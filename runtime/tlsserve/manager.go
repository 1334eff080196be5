package tlsserve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/tenement/ten/version"
)

// Options configure a Manager.
type Options struct {
	Settings *Settings
	// Allow decides whether a host other than the base domain may have a
	// certificate (and a redirect): nil error when it routes to something
	// the server serves. Required: without it anyone could make the
	// server ask the CA for certificates for names of their choosing.
	Allow func(ctx context.Context, host string) error
	// HTTPSPort is the port HTTPS is served on, for redirects.
	HTTPSPort int
	// HTTPClient talks to the ACME CA. Default: http.DefaultClient, which
	// trusts the system roots (or those in $SSL_CERT_FILE).
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Manager hands out certificates during TLS handshakes.
type Manager struct {
	domain    string
	httpsPort int
	allow     func(ctx context.Context, host string) error
	acme      *autocert.Manager // nil with the operator's own certificate
	own       *tls.Certificate
	log       *slog.Logger
}

// New returns a Manager. With ACME it creates the certificate cache
// directory (0700) on first use; with the operator's certificate it loads
// it now.
func New(o Options) (*Manager, error) {
	st := o.Settings
	if st == nil {
		return nil, errors.New("tlsserve: no settings")
	}
	if o.Allow == nil {
		return nil, errors.New("tlsserve: no host policy")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{domain: st.Domain, httpsPort: o.HTTPSPort, log: log}
	m.allow = func(ctx context.Context, host string) error {
		if strings.EqualFold(strings.TrimSuffix(host, "."), m.domain) {
			return nil
		}
		if err := o.Allow(ctx, host); err != nil {
			return fmt.Errorf("no certificate for %q: %w", host, err)
		}
		return nil
	}
	if !st.ACME() {
		cert, err := tls.LoadX509KeyPair(st.CertFile, st.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load --tls-cert %s / --tls-key %s: %w", st.CertFile, st.KeyFile, err)
		}
		m.own = &cert
		return m, nil
	}
	m.acme = &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      loggingCache{autocert.DirCache(st.CacheDir), log},
		HostPolicy: m.allow,
		Email:      st.Email,
		Client: &acme.Client{
			DirectoryURL: st.DirectoryURL,
			HTTPClient:   o.HTTPClient,
			UserAgent:    "ten/" + version.Version,
		},
	}
	return m, nil
}

// TLSConfig is the server side of the HTTPS listener. It offers HTTP/1.1
// (the draining logic of the server closes connections the HTTP/1.1 way)
// and, with ACME, the TLS-ALPN-01 challenge protocol.
func (m *Manager) TLSConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
	}
	if m.acme == nil {
		cfg.Certificates = []tls.Certificate{*m.own}
		return cfg
	}
	cfg.NextProtos = append(cfg.NextProtos, acme.ALPNProto)
	cfg.GetCertificate = m.getCertificate
	return cfg
}

func (m *Manager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	cert, err := m.acme.GetCertificate(hello)
	if err != nil {
		// A name we serve without a certificate is an operator's problem
		// (CA down, rate limit); any other name is anyone's probe, logged
		// at debug so that scanners cannot fill the log.
		ctx := context.Background()
		level := slog.LevelDebug
		if hello.ServerName != "" && m.allow(ctx, hello.ServerName) == nil {
			level = slog.LevelError
		}
		m.log.Log(ctx, level, "TLS handshake without certificate", "server_name", hello.ServerName, "err", err)
	}
	return cert, err
}

// Prefetch obtains (or loads from the cache) the base domain's
// certificate, so that the first visitor does not wait for the CA. A
// failure is logged; the next handshake for the domain tries again.
func (m *Manager) Prefetch(ctx context.Context) {
	if m.acme == nil {
		return
	}
	hello := &tls.ClientHelloInfo{
		ServerName:       m.domain,
		CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:  []tls.CurveID{tls.CurveP256},
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.acme.GetCertificate(hello)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			m.log.Error("could not get a certificate for the base domain; retrying on its next TLS handshake",
				"domain", m.domain, "err", err)
			return
		}
		m.log.Info("certificate ready", "domain", m.domain)
	case <-ctx.Done():
	}
}

// HTTPHandler serves the plain-HTTP port: ACME HTTP-01 challenges, and a
// permanent redirect to HTTPS for every host that has (or may get) a
// certificate. Other hosts get 404, so the port reveals nothing about
// names the server does not serve.
func (m *Manager) HTTPHandler() http.Handler {
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if err := m.allow(r.Context(), host); err != nil {
			http.NotFound(w, r)
			return
		}
		if m.httpsPort != 443 {
			host = net.JoinHostPort(host, strconv.Itoa(m.httpsPort))
		}
		// 308 keeps the method and body of a POST.
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
	if m.acme == nil {
		return redirect
	}
	return m.acme.HTTPHandler(redirect)
}

// loggingCache logs each certificate stored in the cache: that is a
// certificate the CA has just issued (or renewed).
type loggingCache struct {
	autocert.Cache
	log *slog.Logger
}

func (c loggingCache) Put(ctx context.Context, key string, data []byte) error {
	err := c.Cache.Put(ctx, key, data)
	if host, ok := certKey(key); ok {
		if err != nil {
			c.log.Error("could not store a new certificate; it will be requested again", "host", host, "err", err)
		} else {
			c.log.Info("obtained certificate", "host", host)
		}
	}
	return err
}

// certKey reports whether a cache key holds a certificate (rather than the
// account key or a challenge token), and for which host.
func certKey(key string) (string, bool) {
	host, kind, _ := strings.Cut(key, "+")
	if key == "acme_account+key" || (kind != "" && kind != "rsa") {
		return "", false
	}
	return host, true
}
