// Package tlsserve terminates TLS for `ten serve`: certificates from an
// ACME CA (Let's Encrypt unless told otherwise), obtained for the base
// domain at start and on demand for each tenant host that routes somewhere,
// or a certificate the operator brings; and the plain-HTTP side that
// answers ACME HTTP-01 challenges and redirects everything else to HTTPS.
package tlsserve

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/tenement/ten/runtime/config"
)

// Let's Encrypt's ACME directories.
const (
	LetsEncryptURL        = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStagingURL = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// Flags are the `ten serve` command-line settings about TLS. Zero values
// (nil for the ports) leave the [settings.tls] value in force.
type Flags struct {
	TLS           bool
	Email         string
	Staging       bool
	ACMEDirectory string
	CertFile      string
	KeyFile       string
	Host          string
	HTTPSPort     *int
	HTTPPort      *int
}

// Settings is the resolved TLS setup of one server.
type Settings struct {
	// Domain is the base domain: certified at start, and the routing
	// domain of the server.
	Domain string
	// Host is the address the HTTPS and HTTP listeners bind ("" = all).
	Host      string
	HTTPSPort int // 0 picks a free port
	HTTPPort  int // 0 picks a free port

	// ACME; unused when CertFile is set.
	Email        string
	DirectoryURL string
	CacheDir     string

	// A certificate the operator brings, instead of ACME.
	CertFile string
	KeyFile  string

	// Warnings are settings read but not acted on, for the server's log.
	Warnings []string
}

// ACME reports whether certificates come from an ACME CA.
func (s *Settings) ACME() bool { return s.CertFile == "" }

// Resolve combines [settings.tls], the data directory, the routing domain
// (domainSet: given on the command line rather than defaulted) and the
// flags. It returns nil when TLS is off. Every error names the flag or key
// to change.
func Resolve(c config.TLS, dataDir, domain string, domainSet bool, f Flags) (*Settings, error) {
	byo := f.CertFile != "" || f.KeyFile != ""
	if !f.TLS && !c.Enabled && !byo {
		if used := acmeFlagsUsed(f); used != "" {
			return nil, fmt.Errorf("%s needs --tls (or enabled = true under [settings.tls])", used)
		}
		if f.Host != "" || f.HTTPSPort != nil || f.HTTPPort != nil {
			return nil, errors.New("--tls-host, --https-port and --http-port need --tls or --tls-cert/--tls-key")
		}
		return nil, nil
	}

	s := &Settings{Host: f.Host, HTTPSPort: c.HTTPSPort, HTTPPort: c.HTTPPort}
	if f.HTTPSPort != nil {
		s.HTTPSPort = *f.HTTPSPort
	}
	if f.HTTPPort != nil {
		s.HTTPPort = *f.HTTPPort
	}
	for _, p := range []struct {
		name string
		n    int
	}{{"--https-port (https_port)", s.HTTPSPort}, {"--http-port (http_port)", s.HTTPPort}} {
		if p.n < 0 || p.n > 65535 {
			return nil, fmt.Errorf("%s: %d is not a TCP port (1 to 65535, or 0 for any free port)", p.name, p.n)
		}
	}
	if s.HTTPSPort != 0 && s.HTTPSPort == s.HTTPPort {
		return nil, fmt.Errorf("https_port and http_port are both %d; give them different ports", s.HTTPSPort)
	}

	s.Domain = domain
	if c.Domain != "" {
		if domainSet && !strings.EqualFold(strings.TrimSuffix(c.Domain, "."), strings.TrimSuffix(domain, ".")) {
			return nil, fmt.Errorf("domain = %q under [settings.tls] differs from --domain %q; remove one or make them equal", c.Domain, domain)
		}
		s.Domain = c.Domain
	}
	s.Domain = strings.ToLower(strings.TrimSuffix(s.Domain, "."))

	if c.DNSProvider != "" {
		s.Warnings = append(s.Warnings, fmt.Sprintf(
			"dns_provider = %q under [settings.tls] is ignored: ten gets a certificate for each tenant host on demand, which needs no DNS provider", c.DNSProvider))
	}

	if byo {
		return s, s.resolveOwnCert(f)
	}
	return s, s.resolveACME(c, dataDir, f)
}

func acmeFlagsUsed(f Flags) string {
	var used []string
	if f.Email != "" {
		used = append(used, "--email")
	}
	if f.Staging {
		used = append(used, "--staging")
	}
	if f.ACMEDirectory != "" {
		used = append(used, "--acme-directory")
	}
	return strings.Join(used, ", ")
}

func (s *Settings) resolveOwnCert(f Flags) error {
	if f.CertFile == "" || f.KeyFile == "" {
		return errors.New("--tls-cert and --tls-key go together: give both, the certificate chain and its private key (PEM)")
	}
	if used := acmeFlagsUsed(f); used != "" {
		return fmt.Errorf("%s configure ACME, but --tls-cert/--tls-key bring your own certificate; drop one or the other", used)
	}
	if _, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile); err != nil {
		return fmt.Errorf("--tls-cert %s / --tls-key %s: %w", f.CertFile, f.KeyFile, err)
	}
	s.CertFile, s.KeyFile = f.CertFile, f.KeyFile
	return nil
}

func (s *Settings) resolveACME(c config.TLS, dataDir string, f Flags) error {
	if s.Domain == "" || s.Domain == "localhost" || !strings.Contains(s.Domain, ".") || net.ParseIP(s.Domain) != nil {
		return fmt.Errorf("--tls gets certificates from an ACME CA, which needs a public domain name, not %q: give --domain example.com", s.Domain)
	}
	s.Email = f.Email
	if s.Email == "" {
		s.Email = c.ACMEEmail
	}
	if s.Email == "" {
		return errors.New("--tls needs the e-mail address of the ACME account: --email you@example.com (or acme_email under [settings.tls])")
	}
	if !strings.Contains(s.Email, "@") {
		return fmt.Errorf("--email %q is not an e-mail address", s.Email)
	}
	switch {
	case f.ACMEDirectory != "" && f.Staging:
		return errors.New("--staging and --acme-directory both name the ACME CA; give one")
	case f.ACMEDirectory != "":
		u, err := url.Parse(f.ACMEDirectory)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("--acme-directory %q: want the https:// URL of an ACME directory", f.ACMEDirectory)
		}
		s.DirectoryURL = f.ACMEDirectory
	case f.Staging || c.Staging:
		s.DirectoryURL = LetsEncryptStagingURL
	default:
		s.DirectoryURL = LetsEncryptURL
	}
	s.CacheDir = c.CacheDir
	if s.CacheDir == "" {
		s.CacheDir = filepath.Join(dataDir, "acme")
	}
	return nil
}
