package scaffold

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenement/ten/internal/testbin"
	"github.com/tenement/ten/internal/testfs"
	"github.com/tenement/ten/runtime/config"
)

func TestSystemdUnit(t *testing.T) {
	u := SystemdUnit(Unit{Domain: "example.com", Port: 3000, ConfigPath: "/etc/tenement/tenement.toml"})
	for _, want := range []string{
		"[Unit]", "[Service]", "[Install]",
		"ExecStart=/usr/local/bin/ten serve --port 3000 --domain example.com",
		"Environment=TENEMENT_CONFIG=/etc/tenement/tenement.toml",
		"WorkingDirectory=/var/lib/tenement", "ReadWritePaths=/var/lib/tenement",
		"Type=notify", "NotifyAccess=main", "ExecReload=/bin/kill -USR2 $MAINPID",
		"User=tenement\n", "Group=tenement\n",
		"Restart=always", "RestartSec=5", "NoNewPrivileges=true", "ProtectSystem=strict",
		"ProtectHome=true", "PrivateTmp=true", "RestrictSUIDSGID=true",
		"WantedBy=multi-user.target",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if strings.Contains(u, "NotifyAccess=all") {
		t.Error("unit lets any process in the service (a tenant) notify systemd")
	}
	if u := SystemdUnit(Unit{Domain: "example.com", Port: 3000, User: "svc"}); !strings.Contains(u, "User=svc\nGroup=svc\n") {
		t.Errorf("--user svc:\n%s", u)
	}
	plan := InstallPlan(Unit{Domain: "example.com", Port: 8080}, true, "cloudflare")
	for _, want := range []string{"=== Dry run - would perform these actions ===",
		"2. Create system user tenement if missing: useradd --system --user-group --home-dir /var/lib/tenement --shell /usr/sbin/nologin tenement",
		"6. Create systemd unit at /etc/systemd/system/tenement.service", "DNS provider 'cloudflare'", "=== Generated systemd unit ==="} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	for _, bad := range []string{"Root", "a b", "x\nExecStartPre=/bin/sh", "-x", strings.Repeat("a", 33)} {
		if err := (Unit{User: bad}).Validate(); err == nil {
			t.Errorf("user %q accepted", bad)
		}
	}
	if err := (Unit{User: "tenement"}).Validate(); err != nil {
		t.Error(err)
	}
}

// TestSystemdUnitVerifies runs systemd's own checker on the unit, with the
// binary at a path that exists.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testbin.Require(t, "systemd-analyze", "apt-get install systemd")
	dir := t.TempDir()
	path := filepath.Join(dir, "tenement.service")
	unit := SystemdUnit(Unit{Domain: "example.com", Port: 8080, Binary: "/bin/true", User: "root", DataDir: dir})
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s\n%s", err, out, unit)
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
			testfs.WriteFiles(t, dir, tt.files)
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
	testfs.WriteFiles(t, dir, map[string]string{"requirements.txt": "fastapi\n", "main.py": ""})
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
