package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitCaddyInstall(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"notes","scripts":{"start":"node server.js"},"dependencies":{"express":"4"}}`), 0o644)

	code, out, errOut := runTen(t, "init")
	if code != 0 || !strings.HasPrefix(out, "Created tenement.toml (detected: Express)\n") || !strings.Contains(out, "ten spawn notes --id prod") {
		t.Fatalf("init: %d %q %q", code, out, errOut)
	}
	code, out, _ = runTen(t, "config", "--check")
	if code != 0 {
		t.Errorf("generated config does not check: %s", out)
	}
	if code, _, errOut = runTen(t, "init"); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("second init: %d %q", code, errOut)
	}

	code, out, _ = runTen(t, "caddy", "--domain", "example.com", "--port", "9000")
	// One site address per service of the tenement.toml just created.
	if code != 0 || !strings.Contains(out, "\n*.example.com,\n*.notes.example.com {\n") || !strings.Contains(out, "reverse_proxy localhost:9000") {
		t.Errorf("caddy: %d %q", code, out)
	}
	if code, _, errOut = runTen(t, "caddy", "--domain", "*.example.com"); code != 2 || !strings.Contains(errOut, `invalid domain "*.example.com"`) {
		t.Errorf("caddy with a wildcard domain: %d %q", code, errOut)
	}
	if code, _, errOut = runTen(t, "--config", filepath.Join(dir, "missing.toml"), "caddy", "--domain", "example.com"); code == 0 || !strings.Contains(errOut, "one site address per service") {
		t.Errorf("caddy without a config: %d %q", code, errOut)
	}
	if code, _, errOut = runTen(t, "caddy"); code != 2 || !strings.Contains(errOut, "--domain is required") {
		t.Errorf("caddy without domain: %d %q", code, errOut)
	}
	caddyfile := filepath.Join(dir, "Caddyfile")
	if code, out, _ = runTen(t, "caddy", "-d", "example.com", "-o", caddyfile); code != 0 || out != "Caddyfile written to: "+caddyfile+"\n" {
		t.Errorf("caddy --output: %d %q", code, out)
	}
	if b, err := os.ReadFile(caddyfile); err != nil || !strings.Contains(string(b), "*.notes.example.com {") {
		t.Errorf("written Caddyfile: %v %q", err, b)
	}
	if code, _, _ = runTen(t, "caddy", "-d", "example.com", "--port", "2020", "-o", caddyfile+".bad"); code != 2 {
		t.Errorf("caddy --port = --ask-port: exit %d, want 2", code)
	}
	if _, err := os.Stat(caddyfile + ".bad"); !os.IsNotExist(err) {
		t.Errorf("a rejected caddy command wrote its output: %v", err)
	}

	code, out, _ = runTen(t, "install", "--domain", "example.com", "--dry-run")
	if code != 0 || !strings.Contains(out, "ExecStart=/usr/local/bin/ten serve --port 8080 --domain example.com") {
		t.Errorf("install --dry-run: %d %q", code, out)
	}
	if code, _, errOut = runTen(t, "install", "--domain", "example.com"); code != 2 || !strings.Contains(errOut, "--dry-run") {
		t.Errorf("install: %d %q", code, errOut)
	}
}

func TestClientCommandsWithoutServerFailInOneLine(t *testing.T) {
	cfg := writeConfig(t, "[service.api]\ncommand = \"./api\"\n")
	dataDir := t.TempDir()
	os.WriteFile(filepath.Join(dataDir, "api_token"), []byte("ten_x\n"), 0o600)
	code, _, errOut := runTen(t, "--config", cfg, "--data-dir", dataDir, "--server", "http://127.0.0.1:1", "ps")
	if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "ten: cannot reach the ten server at http://127.0.0.1:1") {
		t.Errorf("ps without server: %d %q", code, errOut)
	}
	empty := t.TempDir()
	code, _, errOut = runTen(t, "--config", cfg, "--data-dir", empty, "ps")
	if code != 1 || !strings.Contains(errOut, "run `ten token-gen` first") {
		t.Errorf("ps without token: %d %q", code, errOut)
	}
}
