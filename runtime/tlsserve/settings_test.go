package tlsserve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenement/ten/runtime/config"
)

func intp(n int) *int { return &n }

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir, "example.test")
	defaults := config.Default().Settings.TLS

	tests := []struct {
		name      string
		cfg       func(*config.TLS)
		domain    string
		domainSet bool
		flags     Flags
		want      *Settings // nil: TLS off
		wantErr   string
	}{
		{name: "off by default", domain: "localhost"},
		{name: "email without tls", domain: "example.test", flags: Flags{Email: "a@b.c"}, wantErr: "--email needs --tls"},
		{name: "port without tls", domain: "example.test", flags: Flags{HTTPSPort: intp(8443)}, wantErr: "need --tls"},
		{
			name: "acme defaults", domain: "Example.TEST.", domainSet: true,
			flags: Flags{TLS: true, Email: "ops@example.test"},
			want: &Settings{Domain: "example.test", HTTPSPort: 443, HTTPPort: 80, Email: "ops@example.test",
				DirectoryURL: LetsEncryptURL, CacheDir: filepath.Join(dir, "acme")},
		},
		{
			name: "enabled in config", domain: "localhost",
			cfg: func(c *config.TLS) {
				c.Enabled, c.ACMEEmail, c.Domain, c.Staging = true, "ops@example.test", "example.test", true
				c.HTTPSPort, c.HTTPPort, c.CacheDir = 8443, 8080, "/srv/certs"
			},
			want: &Settings{Domain: "example.test", HTTPSPort: 8443, HTTPPort: 8080, Email: "ops@example.test",
				DirectoryURL: LetsEncryptStagingURL, CacheDir: "/srv/certs"},
		},
		{
			name: "flags override ports and CA", domain: "example.test",
			flags: Flags{TLS: true, Email: "a@example.test", ACMEDirectory: "https://ca.internal/dir",
				HTTPSPort: intp(0), HTTPPort: intp(0), Host: "127.0.0.1"},
			want: &Settings{Domain: "example.test", Host: "127.0.0.1", Email: "a@example.test",
				DirectoryURL: "https://ca.internal/dir", CacheDir: filepath.Join(dir, "acme")},
		},
		{
			name: "dns provider is a warning", domain: "example.test",
			cfg:   func(c *config.TLS) { c.DNSProvider = "cloudflare" },
			flags: Flags{TLS: true, Email: "a@example.test"},
			want: &Settings{Domain: "example.test", HTTPSPort: 443, HTTPPort: 80, Email: "a@example.test",
				DirectoryURL: LetsEncryptURL, CacheDir: filepath.Join(dir, "acme"),
				Warnings: []string{`dns_provider = "cloudflare" under [settings.tls] is ignored: ten gets a certificate for each tenant host on demand, which needs no DNS provider`}},
		},
		{name: "no email", domain: "example.test", flags: Flags{TLS: true}, wantErr: "--email you@example.com"},
		{name: "bad email", domain: "example.test", flags: Flags{TLS: true, Email: "ops"}, wantErr: `--email "ops" is not an e-mail address`},
		{name: "localhost", domain: "localhost", flags: Flags{TLS: true, Email: "a@b.c"}, wantErr: "needs a public domain name"},
		{name: "ip", domain: "10.0.0.1", flags: Flags{TLS: true, Email: "a@b.c"}, wantErr: "needs a public domain name"},
		{name: "plain http directory", domain: "example.test", flags: Flags{TLS: true, Email: "a@b.c", ACMEDirectory: "http://ca/dir"}, wantErr: "want the https:// URL"},
		{name: "staging and directory", domain: "example.test", flags: Flags{TLS: true, Email: "a@b.c", Staging: true, ACMEDirectory: "https://ca/dir"}, wantErr: "give one"},
		{name: "port out of range", domain: "example.test", flags: Flags{TLS: true, Email: "a@b.c", HTTPSPort: intp(70000)}, wantErr: "--https-port (https_port): 70000 is not a TCP port"},
		{name: "same ports", domain: "example.test", flags: Flags{TLS: true, Email: "a@b.c", HTTPSPort: intp(8000), HTTPPort: intp(8000)}, wantErr: "both 8000"},
		{
			name: "domains differ", domain: "other.test", domainSet: true,
			cfg:   func(c *config.TLS) { c.Domain = "example.test" },
			flags: Flags{TLS: true, Email: "a@b.c"}, wantErr: `domain = "example.test" under [settings.tls] differs from --domain "other.test"`,
		},
		{
			name: "own certificate", domain: "example.test",
			flags: Flags{CertFile: certFile, KeyFile: keyFile},
			want:  &Settings{Domain: "example.test", HTTPSPort: 443, HTTPPort: 80, CertFile: certFile, KeyFile: keyFile},
		},
		{name: "cert without key", domain: "example.test", flags: Flags{CertFile: certFile}, wantErr: "go together"},
		{name: "own cert with acme flags", domain: "example.test", flags: Flags{CertFile: certFile, KeyFile: keyFile, Email: "a@b.c"}, wantErr: "--email configure ACME"},
		{name: "unreadable key", domain: "example.test", flags: Flags{CertFile: certFile, KeyFile: filepath.Join(dir, "missing.pem")}, wantErr: "missing.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaults
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			got, err := Resolve(c, dir, tt.domain, tt.domainSet, tt.flags)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if got == nil {
				return
			}
			if g, w := *got, *tt.want; g.Domain != w.Domain || g.Host != w.Host || g.HTTPSPort != w.HTTPSPort ||
				g.HTTPPort != w.HTTPPort || g.Email != w.Email || g.DirectoryURL != w.DirectoryURL ||
				g.CacheDir != w.CacheDir || g.CertFile != w.CertFile || g.KeyFile != w.KeyFile ||
				strings.Join(g.Warnings, "|") != strings.Join(w.Warnings, "|") {
				t.Errorf("got  %+v\nwant %+v", g, w)
			}
		})
	}
}

func TestResolveCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	if _, err := Resolve(config.Default().Settings.TLS, dir, "example.test", true, Flags{TLS: true, Email: "a@example.test"}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Resolve wrote to the data directory: %v", entries)
	}
}
