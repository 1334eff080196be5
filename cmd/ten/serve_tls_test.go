package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad TLS flags stop `ten serve` before it opens the database or listens:
// exit status 2, a message naming the fix, an untouched data directory.
func TestServeRejectsBadTLSFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--email", "ops@example.com"}, "--email needs --tls"},
		{[]string{"--https-port", "0"}, "need --tls"},
		{[]string{"--tls", "--domain", "example.com"}, "--email you@example.com"},
		{[]string{"--tls", "--email", "ops@example.com"}, `needs a public domain name, not "localhost"`},
		{[]string{"--tls", "--domain", "example.com", "--email", "ops@example.com", "--https-port", "99999"}, "--https-port (https_port): 99999"},
		{[]string{"--tls-cert", "/nonexistent/cert.pem", "--domain", "example.com"}, "--tls-cert and --tls-key go together"},
	}
	cfg := writeConfig(t, "")
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve", "--config", cfg, "--data-dir", dataDir, "--port", "0", "--host", "127.0.0.1"}, tt.args...)
			code, _, stderr := runTen(t, args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Errorf("the data directory was created (%v)", err)
			}
		})
	}
}
