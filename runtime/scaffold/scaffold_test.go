package scaffold

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenement/ten/runtime/config"
)

func TestSystemdUnit(t *testing.T) {
	u := SystemdUnit("example.com", 3000, "/etc/tenement/tenement.toml")
	for _, want := range []string{
		"[Unit]", "[Service]", "[Install]",
		"ExecStart=/usr/local/bin/ten serve --port 3000 --domain example.com",
		"Environment=TENEMENT_CONFIG=/etc/tenement/tenement.toml",
		"WorkingDirectory=/var/lib/tenement", "ReadWritePaths=/var/lib/tenement",
		"Type=notify", "NotifyAccess=all", "ExecReload=/bin/kill -USR2 $MAINPID",
		"Restart=always", "RestartSec=5", "NoNewPrivileges=true", "ProtectSystem=strict",
		"WantedBy=multi-user.target",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	plan := InstallPlan("example.com", 8080, true, "cloudflare")
	for _, want := range []string{"=== Dry run - would perform these actions ===", "5. Create systemd unit at /etc/systemd/system/tenement.service", "DNS provider 'cloudflare'", "=== Generated systemd unit ==="} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		wantName  string
		wantCmd   string
		framework string
	}{
		{"fastapi-uv", map[string]string{"pyproject.toml": "[project]\ndependencies = [\"FastAPI>=0.1\", \"uvicorn\"]\n", "uv.lock": "", "app.py": ""},
			"", "uv run uvicorn app:app --host 127.0.0.1 --port {port}", "FastAPI"},
		{"flask", map[string]string{"requirements.txt": "flask==3.0\n"}, "", "flask --app main run --host 127.0.0.1 --port {port}", "Flask"},
		{"node", map[string]string{"package.json": `{"name":"@acme/Notes App","scripts":{"start":"node server.js"},"dependencies":{"fastify":"4"}}`},
			"notes-app", "npm start", "Fastify"},
		{"node-main", map[string]string{"package.json": `{"main":"srv.js"}`}, "", "node srv.js", "Node.js"},
		{"go", map[string]string{"go.mod": "module github.com/acme/notes\n\ngo 1.22\n"}, "notes", "./notes", "Go"},
		{"rust", map[string]string{"Cargo.toml": "[package]\nname = \"notes_api\"\n"}, "notes_api", "./target/release/notes_api", "Rust"},
		{"nothing", map[string]string{}, "", "./server", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "My Project")
			os.Mkdir(dir, 0o755)
			write(t, dir, tt.files)
			p := Detect(dir)
			want := tt.wantName
			if want == "" {
				want = "my-project"
			}
			if p.Name != want || p.Command != tt.wantCmd || p.Framework != tt.framework {
				t.Errorf("Detect = %+v; want name %q command %q framework %q", p, want, tt.wantCmd, tt.framework)
			}
		})
	}
}

func TestInitWritesValidConfig(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"requirements.txt": "fastapi\n", "main.py": ""})
	path, p, err := Init(dir, "api", "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "api" || !strings.Contains(p.Command, "uvicorn main:app") {
		t.Errorf("project %+v", p)
	}
	cfg, diags, err := config.Load(path)
	if err != nil || config.HasErrors(diags) || len(diags) != 0 {
		t.Fatalf("generated file: %v %v\n%s", err, diags, TenementTOML(p))
	}
	svc := cfg.Services["api"]
	if svc == nil || svc.Command != p.Command || svc.Health != "/health" || svc.IdleTimeout != 300 {
		t.Errorf("service %+v", svc)
	}

	if _, _, err := Init(dir, "", ""); !errors.Is(err, ErrConfigExists) {
		t.Errorf("second Init: %v, want ErrConfigExists", err)
	}
}

func TestInitCommandOverrideIsQuoted(t *testing.T) {
	dir := t.TempDir()
	cmd := `sh -c "echo \"hi\" && exec ./srv --x=<y>"`
	path, _, err := Init(dir, "web", cmd)
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags, err := config.Load(path)
	if err != nil || config.HasErrors(diags) {
		t.Fatalf("%v %v", err, diags)
	}
	if got := cfg.Services["web"].Command; got != cmd {
		t.Errorf("command %q, want %q", got, cmd)
	}
	if _, _, err := Init(t.TempDir(), "Bad Name", ""); err == nil {
		t.Error("invalid name accepted")
	}
}
