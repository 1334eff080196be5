package scaffold

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// Project is what `ten init` found out about the directory it runs in.
type Project struct {
	Name      string // service name: a DNS label
	Command   string // how to start one instance
	Framework string // human name of what was detected, "" if nothing
	Note      string // extra advice for the generated file, e.g. a build step
}

// ErrConfigExists is returned by Init when tenement.toml is already there.
var ErrConfigExists = errors.New("tenement.toml already exists")

// Init writes dir/tenement.toml for the project found in dir. name and
// command, when not empty, override what detection picks.
func Init(dir, name, command string) (string, Project, error) {
	p := Detect(dir)
	if name != "" {
		clean := ServiceName(name)
		if clean != name {
			return "", p, fmt.Errorf("invalid service name %q: use lowercase letters, digits, '-' and '_' (e.g. %q)", name, clean)
		}
		p.Name = name
	}
	if command != "" {
		p.Command, p.Note = command, ""
	}
	out := filepath.Join(dir, "tenement.toml")
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return out, p, fmt.Errorf("%s: %w; remove it first or edit it", out, ErrConfigExists)
	}
	if err != nil {
		return out, p, fmt.Errorf("create tenement.toml: %w", err)
	}
	if _, err := f.WriteString(TenementTOML(p)); err != nil {
		f.Close()
		return out, p, fmt.Errorf("write %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return out, p, fmt.Errorf("write %s: %w", out, err)
	}
	return out, p, nil
}

// Detect looks at the manifest files in dir (package.json, pyproject.toml,
// requirements.txt, go.mod, Cargo.toml, Gemfile) and proposes a service
// name and start command. Tenants get their port in $PORT, and commands
// that need it on the command line use {port}.
func Detect(dir string) Project {
	p := Project{Name: ServiceName(filepath.Base(absDir(dir)))}
	switch {
	case exists(dir, "package.json"):
		detectNode(dir, &p)
	case exists(dir, "pyproject.toml"), exists(dir, "requirements.txt"), exists(dir, "Pipfile"), exists(dir, "manage.py"):
		detectPython(dir, &p)
	case exists(dir, "go.mod"):
		detectGo(dir, &p)
	case exists(dir, "Cargo.toml"):
		detectRust(dir, &p)
	case exists(dir, "Gemfile"):
		detectRuby(dir, &p)
	default:
		p.Command = "./server"
		p.Note = "no framework detected: set command to whatever starts one instance listening on $PORT"
	}
	if p.Name == "" {
		p.Name = "app"
	}
	return p
}

func detectNode(dir string, p *Project) {
	var pkg struct {
		Name            string            `json:"name"`
		Main            string            `json:"main"`
		Scripts         map[string]string `json:"scripts"`
		Dependencies    map[string]string `json:"dependencies"`
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "package.json")); err == nil {
		json.Unmarshal(b, &pkg)
	}
	has := func(dep string) bool {
		_, a := pkg.Dependencies[dep]
		_, b := pkg.DevDependencies[dep]
		return a || b
	}
	p.Framework = "Node.js"
	for _, fw := range []struct{ dep, name string }{
		{"next", "Next.js"}, {"@nestjs/core", "NestJS"}, {"fastify", "Fastify"},
		{"express", "Express"}, {"hono", "Hono"}, {"koa", "Koa"},
	} {
		if has(fw.dep) {
			p.Framework = fw.name
			break
		}
	}
	if n := ServiceName(strings.TrimPrefix(path.Base(pkg.Name), "@")); pkg.Name != "" && n != "" {
		p.Name = n
	}
	runner := "npm"
	switch {
	case exists(dir, "bun.lockb"), exists(dir, "bun.lock"):
		runner = "bun"
	case exists(dir, "pnpm-lock.yaml"):
		runner = "pnpm"
	case exists(dir, "yarn.lock"):
		runner = "yarn"
	}
	switch {
	case pkg.Scripts["start"] != "":
		p.Command = runner + " start"
		if runner == "bun" {
			p.Command = "bun run start"
		}
	case pkg.Main != "":
		p.Command = "node " + pkg.Main
	default:
		p.Command = "node " + firstExisting(dir, "server.js", "index.js", "app.js", "main.js")
	}
}

var pyDeps = regexp.MustCompile(`(?i)\b(fastapi|starlette|flask|django|uvicorn|gunicorn)\b`)

func detectPython(dir string, p *Project) {
	var text strings.Builder
	for _, f := range []string{"pyproject.toml", "requirements.txt", "Pipfile"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			text.Write(bytes.ToLower(b))
		}
	}
	deps := map[string]bool{}
	for _, m := range pyDeps.FindAllString(text.String(), -1) {
		deps[strings.ToLower(m)] = true
	}
	prefix := ""
	if exists(dir, "uv.lock") {
		prefix = "uv run "
	}
	module := strings.TrimSuffix(firstExisting(dir, "main.py", "app.py", "server.py"), ".py")
	switch {
	case deps["fastapi"] || deps["starlette"]:
		p.Framework = "FastAPI"
		if !deps["fastapi"] {
			p.Framework = "Starlette"
		}
		p.Command = prefix + "uvicorn " + module + ":app --host 127.0.0.1 --port {port}"
	case deps["flask"]:
		p.Framework = "Flask"
		p.Command = prefix + "flask --app " + module + " run --host 127.0.0.1 --port {port}"
	case deps["django"] || exists(dir, "manage.py"):
		p.Framework = "Django"
		p.Command = prefix + "python manage.py runserver 127.0.0.1:{port} --noreload"
		p.Note = "for production, run gunicorn PROJECT.wsgi --bind 127.0.0.1:{port} instead"
	default:
		p.Framework = "Python"
		p.Command = prefix + "python " + module + ".py"
	}
}

func detectGo(dir string, p *Project) {
	p.Framework = "Go"
	bin := p.Name
	if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
		for line := range strings.Lines(string(b)) {
			if mod, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
				if n := ServiceName(path.Base(strings.Trim(strings.TrimSpace(mod), `"`))); n != "" {
					p.Name, bin = n, n
				}
				break
			}
		}
	}
	p.Command = "./" + bin
	p.Note = "build it first: go build -o " + bin
}

var cargoName = regexp.MustCompile(`(?m)^\s*name\s*=\s*"([^"]+)"`)

func detectRust(dir string, p *Project) {
	p.Framework = "Rust"
	bin := p.Name
	if b, err := os.ReadFile(filepath.Join(dir, "Cargo.toml")); err == nil {
		if m := cargoName.FindSubmatch(b); m != nil {
			bin = string(m[1])
			if n := ServiceName(bin); n != "" {
				p.Name = n
			}
		}
	}
	p.Command = "./target/release/" + bin
	p.Note = "build it first: cargo build --release"
}

func detectRuby(dir string, p *Project) {
	b, _ := os.ReadFile(filepath.Join(dir, "Gemfile"))
	if bytes.Contains(b, []byte("rails")) {
		p.Framework = "Rails"
		p.Command = "bin/rails server -b 127.0.0.1 -p {port}"
		return
	}
	p.Framework = "Ruby"
	p.Command = "bundle exec rackup -o 127.0.0.1 -p {port}"
}

// TenementTOML renders the configuration for p.
func TenementTOML(p Project) string {
	var b strings.Builder
	b.WriteString("# tenement.toml, generated by `ten init`")
	if p.Framework != "" {
		fmt.Fprintf(&b, " (detected: %s)", p.Framework)
	}
	fmt.Fprintf(&b, `
#
# Run:
#   ten serve --port 8080 --domain localhost
#   ten spawn %[1]s --id prod
#   curl http://prod.%[1]s.localhost:8080/
#
# Each instance gets its port in $PORT ({port} in command, args and env).

[settings]
data_dir = "./data"

[service.%[1]s]
`, p.Name)
	if p.Note != "" {
		fmt.Fprintf(&b, "# %s\n", p.Note)
	}
	fmt.Fprintf(&b, "command = %s\n", tomlString(p.Command))
	b.WriteString(`health = "/health"
idle_timeout = 300  # stop an instance after 5 minutes without requests; 0 keeps it running
# isolation = "process"  # the default, "namespace", needs ten to run as root

[service.` + p.Name + `.env]
# DATABASE_PATH = "{data_dir}/{name}/{id}/app.db"
`)
	return b.String()
}

// tomlString quotes s as a TOML basic string; JSON's escapes are a subset
// of TOML's.
func tomlString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n")
}

var notLabel = regexp.MustCompile(`[^a-z0-9_-]+`)

// ServiceName turns s into a valid service name: lowercase, with runs of
// other characters replaced by '-', at most 63 bytes, not starting or
// ending with '-'.
func ServiceName(s string) string {
	s = notLabel.ReplaceAllString(strings.ToLower(s), "-")
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-")
}

func exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

func firstExisting(dir string, names ...string) string {
	for _, n := range names {
		if exists(dir, n) {
			return n
		}
	}
	return names[0]
}

func absDir(dir string) string {
	if a, err := filepath.Abs(dir); err == nil {
		return a
	}
	return dir
}
