package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// want describes a diagnostic expected from Parse. Message and Hint are
// matched as substrings; an empty Hint is not checked.
type want struct {
	Severity Severity
	Line     int
	Key      string
	Message  string
	Hint     string
}

// checkDiagnostics fails unless ds match wants exactly, in order.
func checkDiagnostics(t *testing.T, ds []Diagnostic, wants []want) {
	t.Helper()
	if len(ds) != len(wants) {
		t.Errorf("got %d diagnostics, want %d:\n%s", len(ds), len(wants), dump(ds))
		return
	}
	for i, w := range wants {
		d := ds[i]
		if d.Severity != w.Severity || d.Line != w.Line || d.Key != w.Key ||
			!strings.Contains(d.Message, w.Message) || !strings.Contains(d.Hint, w.Hint) {
			t.Errorf("diagnostic %d =\n\t%s %q line %d: %q (hint %q)\nwant\n\t%s %q line %d: %q (hint %q)",
				i, d.Severity, d.Key, d.Line, d.Message, d.Hint,
				w.Severity, w.Key, w.Line, w.Message, w.Hint)
		}
		if d.File != "tenement.toml" {
			t.Errorf("diagnostic %d: File = %q, want tenement.toml", i, d.File)
		}
	}
}

// diagCase is a config source and the diagnostics Parse must report for
// it.
type diagCase struct {
	name  string
	src   string
	wants []want
}

// runDiagCases parses each case's source and checks its diagnostics, and
// then, when also is not nil, whatever else also checks.
func runDiagCases(t *testing.T, tests []diagCase, also func(t *testing.T, ds []Diagnostic)) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ds := mustParse(t, tt.src)
			checkDiagnostics(t, ds, tt.wants)
			if also != nil {
				also(t, ds)
			}
		})
	}
}

// apiTable is the smallest valid service table; a case about one of its
// other keys starts from it.
const apiTable = "[service.api]\ncommand = \"./api\"\n"

// keyCase is a case that sets one key in one table and expects one
// diagnostic, about that key on its line. A [service.api] table gets the
// command a service needs first, unless the case sets the command; an
// empty table is the top level.
type keyCase struct {
	name     string
	table    string
	line     string // key = value
	severity Severity
	message  string
	hint     string
}

// keyCases turns rows into the diagCases they stand for.
func keyCases(rows []keyCase) []diagCase {
	cases := make([]diagCase, len(rows))
	for i, r := range rows {
		key, _, _ := strings.Cut(r.line, " =")
		var src string
		switch {
		case r.table == "service.api" && key != "command":
			src = apiTable
		case r.table != "":
			src = "[" + r.table + "]\n"
		}
		if r.table != "" {
			key = r.table + "." + key
		}
		src += r.line + "\n"
		cases[i] = diagCase{
			name:  r.name,
			src:   src,
			wants: []want{{r.severity, strings.Count(src, "\n"), key, r.message, r.hint}},
		}
	}
	return cases
}

func dump(ds []Diagnostic) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "\t%s [%s] %s\n", d.Severity, d.Key, d)
	}
	return b.String()
}

func TestRuntimeAlias(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		isolation string
		wants     []want
	}{{
		name: "runtime alone",
		src: apiTable + `runtime = "namespace"
`,
		isolation: "namespace",
		wants: []want{
			{SeverityWarning, 3, "service.api.runtime", "deprecated", `rename "runtime" to "isolation"`},
		},
	}, {
		name: "runtime and isolation agree",
		src: apiTable + `isolation = "namespace"
runtime = "namespace"
`,
		isolation: "namespace",
		wants: []want{
			{SeverityWarning, 4, "service.api.runtime", "deprecated", `delete "runtime"`},
		},
	}, {
		name: "runtime and isolation disagree",
		src: apiTable + `runtime = "namespace"
isolation = "process"
`,
		isolation: "process",
		wants: []want{
			{SeverityError, 3, "service.api.runtime", `runtime = "namespace" conflicts with isolation = "process"`, `delete "runtime"`},
		},
	}, {
		// The bad value is reported against the key the file used.
		name: "runtime with an unsupported value",
		src: apiTable + `runtime = "firecracker"
`,
		isolation: "firecracker",
		wants: []want{
			{SeverityError, 3, "service.api.runtime", `unsupported value "firecracker"; supported values are "process" and "namespace"`, "not available"},
			{SeverityWarning, 3, "service.api.runtime", "deprecated", "isolation"},
		},
	}, {
		name: "runtime in a process table",
		src: `[process.api]
command = "./api"
runtime = "namespace"
`,
		isolation: "namespace",
		wants: []want{
			{SeverityWarning, 1, "process.api", "[process.api] is deprecated", "[service.api]"},
			{SeverityWarning, 3, "process.api.runtime", "deprecated", "isolation"},
		},
	}, {
		name: "runtime that is not a string",
		src: apiTable + `runtime = 1
`,
		isolation: "namespace", // the default: tenement runtime/mod.rs:43-45
		wants: []want{
			{SeverityError, 3, "service.api.runtime", "expected a string, found an integer", ""},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ds := mustParse(t, tt.src)
			if got := c.Services["api"].Isolation; got != tt.isolation {
				t.Errorf("Isolation = %q, want %q", got, tt.isolation)
			}
			checkDiagnostics(t, ds, tt.wants)
		})
	}
}

func TestProcessAlias(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		services map[string]string // name -> command
		wants    []want
	}{{
		name: "process table",
		src: `[process.api]
command = "./api"
health = "/up"

[process.api.env]
A = "1"
`,
		services: map[string]string{"api": "./api"},
		wants: []want{
			{SeverityWarning, 1, "process.api", "[process.api] is deprecated", "rename it to [service.api]"},
		},
	}, {
		name: "process and service side by side",
		src: `[service.web]
command = "./web"

[process.api]
command = "./api"
`,
		services: map[string]string{"api": "./api", "web": "./web"},
		wants: []want{
			{SeverityWarning, 4, "process.api", "deprecated", "[service.api]"},
		},
	}, {
		name: "same name, same values",
		src: apiTable + `isolation = "namespace"

[process.api]
command = "./api"
runtime = "namespace"
`,
		services: map[string]string{"api": "./api"},
		wants: []want{
			{SeverityWarning, 5, "process.api", "[process.api] repeats [service.api]", "delete [process.api]"},
			{SeverityWarning, 7, "process.api.runtime", "deprecated", "isolation"},
		},
	}, {
		name: "same name, conflicting values",
		src: apiTable + `
[process.api]
command = "./api-old"
restart = "always"
`,
		services: map[string]string{"api": "./api"},
		wants: []want{
			{SeverityError, 4, "process.api", "[process.api] conflicts with [service.api] (line 1): they differ in command and restart", "keep only [service.api]"},
		},
	}, {
		// A process table's own mistakes are reported under process.*.
		name: "validation inside a process table",
		src: `[process.api]
command = "./api"
restart = "sometimes"
`,
		services: map[string]string{"api": "./api"},
		wants: []want{
			{SeverityWarning, 1, "process.api", "deprecated", ""},
			{SeverityError, 3, "process.api.restart", `unsupported value "sometimes"`, ""},
		},
	}, {
		name: "missing command in a process table",
		src: `[process.api]
health = "/up"
`,
		services: map[string]string{"api": ""},
		wants: []want{
			{SeverityError, 1, "process.api", "command is required", ""},
			{SeverityWarning, 1, "process.api", "deprecated", ""},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ds := mustParse(t, tt.src)
			if len(c.Services) != len(tt.services) {
				t.Errorf("services = %v, want %v", c.ServiceNames(), tt.services)
			}
			for name, cmd := range tt.services {
				if s := c.Services[name]; s == nil || s.Command != cmd {
					t.Errorf("service %q = %+v, want command %q", name, s, cmd)
				}
			}
			checkDiagnostics(t, ds, tt.wants)
		})
	}
}

func TestProcessAliasKeepsDefaultsAndEnv(t *testing.T) {
	c, _ := mustParse(t, `[process.api]
command = "./api"

[process.api.env]
A = "1"
`)
	s := c.Services["api"]
	if s.Env["A"] != "1" || s.Health != "/health" || s.StartupTimeout != 10 {
		t.Errorf("process.api decoded as %+v", s)
	}
}

func TestUnknownKeys(t *testing.T) {
	runDiagCases(t, slices.Concat(keyCases([]keyCase{
		{"typo in a service", "service.api", `helth = "/health"`, SeverityWarning, "unknown key service.api.helth", `did you mean "health"?`},
		{"unknown top-level key", "", `title = "mine"`, SeverityWarning, "unknown key title", ""},
		{"nothing close", "service.api", `zzzzzz = 1`, SeverityWarning, "unknown key", ""},
	}), []diagCase{{
		name: "unknown top-level table",
		src: `# comment
[servce.api]
command = "./api"
`,
		wants: []want{{SeverityWarning, 2, "servce", "unknown key servce", `did you mean "service"?`}},
	}, {
		name: "settings",
		src: `[settings]
data_dir = "/srv"
max_restart = 5
`,
		wants: []want{{SeverityWarning, 3, "settings.max_restart", "unknown key", `did you mean "max_restarts"?`}},
	}, {
		name: "nested table",
		src: `[settings]
data_dir = "/srv"

[settings.tls]
enabled = true
domian = "example.com"
`,
		wants: []want{{SeverityWarning, 6, "settings.tls.domian", "unknown key", `did you mean "domain"?`}},
	}, {
		name: "routing and upgrade",
		src: `[routing]
defualt = "api"

[upgrade]
stratgy = "auto"
`,
		wants: []want{
			{SeverityWarning, 2, "routing.defualt", "unknown key", `did you mean "default"?`},
			{SeverityWarning, 5, "upgrade.stratgy", "unknown key", `did you mean "strategy"?`},
		},
	}, {
		name: "dotted key at top level",
		src: `service.api.command = "./api"

service.api.comand = "./api"
`,
		wants: []want{{SeverityWarning, 3, "service.api.comand", "unknown key", `did you mean "command"?`}},
	}, {
		name: "dotted key inside a table",
		src: `[service]
api.command = "./api"
api.limits.memory = 5
`,
		wants: []want{{SeverityWarning, 3, "service.api.limits", "unknown key service.api.limits", ""}},
	}, {
		name: "quoted keys",
		src: `[service."api"]
command = "./api"
"helth" = "/health"
`,
		wants: []want{{SeverityWarning, 3, "service.api.helth", "unknown key", `"health"`}},
	}, {
		name: "inline table",
		src: `[service]
web = { command = "./web" }
api = { command = "./api", helth = "/h" }
`,
		wants: []want{{SeverityWarning, 3, "service.api.helth", "unknown key", `"health"`}},
	}, {
		name: "multi-line inline table",
		src: `[service]
api = {
  command = "./api",
  helth = "/h",
}
`,
		wants: []want{{SeverityWarning, 4, "service.api.helth", "unknown key", `"health"`}},
	}, {
		name: "array of tables",
		src: apiTable + `
[[service.api.mounts]]
source = "/a"
destination = "/b"

[[service.api.mounts]]
sorce = "/c"
destination = "/d"
`,
		wants: []want{{SeverityWarning, 9, "service.api.mounts.sorce", "unknown key", `did you mean "source"?`}},
	}, {
		name: "after multi-line values that look like keys",
		src: apiTable + `args = [
  "helth = 1",
  # helth = 2
  'x',
]
env = { A = """
helth = 3
""", B = '''
helth = 4''' }
helth = "/h"
`,
		wants: []want{{SeverityWarning, 12, "service.api.helth", "unknown key", `"health"`}},
	}, {
		name: "several in order",
		src: `[service.b]
command = "./b"
comand = "x"

[service.a]
command = "./a"
workdirr = "/x"
`,
		wants: []want{
			{SeverityWarning, 3, "service.b.comand", "unknown key", `"command"`},
			{SeverityWarning, 7, "service.a.workdirr", "unknown key", `"workdir"`},
		},
	}, {
		name: "synonym",
		src: `[service.api]
cmd = "./api"
command = "./api"
`,
		wants: []want{{SeverityWarning, 2, "service.api.cmd", "unknown key", `did you mean "command"?`}},
	}, {
		name: "CRLF line endings",
		src:  "[service.api]\r\ncommand = \"./api\"\r\n\r\nhelth = \"/h\"\r\n",
		wants: []want{
			{SeverityWarning, 4, "service.api.helth", "unknown key", `"health"`},
		},
	}}), func(t *testing.T, ds []Diagnostic) {
		if HasErrors(ds) {
			t.Errorf("unknown keys must only warn:\n%s", dump(ds))
		}
	})
}

// A legitimate tenement key must never be reported as unknown.
func TestNoWarningsForTenementKeys(t *testing.T) {
	_, ds := mustParse(t, everyKey)
	if len(ds) != 0 {
		t.Errorf("unexpected diagnostics:\n%s", dump(ds))
	}
}

func TestTypeErrors(t *testing.T) {
	runDiagCases(t, slices.Concat(keyCases([]keyCase{
		{"string for integer", "service.api", `idle_timeout = "30s"`, SeverityError, "expected an integer, found a string", "without quotes"},
		{"float for integer", "settings", `max_restarts = 2.5`, SeverityError, "expected an integer, found a float", ""},
		{"string for boolean", "service.api", `storage_persist = "yes"`, SeverityError, "expected true or false, found a string", ""},
		{"mixed args", "service.api", `args = ["--port", 80]`, SeverityError, "found an integer at index 1", ""},
		{"service not a table", "", `service = "api"`, SeverityError, "expected a table, found a string", ""},
		{"a service not a table", "service", `api = "./api"`, SeverityError, "expected a table, found a string", ""},
		{"date-time", "settings", `data_dir = 1979-05-27 07:32:00Z`, SeverityError, "expected a string, found a date-time", ""},
		{"mounts not tables", "service.api", `mounts = ["/a:/b"]`, SeverityError, "array containing a string", ""},
	}), []diagCase{{
		name: "integer for string",
		src: `[service.api]
command = 5
`,
		wants: []want{
			{SeverityError, 1, "service.api", "command is required", ""},
			{SeverityError, 2, "service.api.command", "expected a string, found an integer", ""},
		},
	}, {
		name: "env value not a string",
		src: apiTable + `
[service.api.env]
PORT = 8080
`,
		wants: []want{{SeverityError, 5, "service.api.env.PORT", "expected a string, found an integer", ""}},
	}, {
		name: "instances not an array",
		src: apiTable + `
[instances]
api = "prod"
`,
		wants: []want{{SeverityError, 5, "instances.api", "expected an array of strings, found a string", ""}},
	}}), nil)
}

// A value of the wrong type leaves the default in place.
func TestTypeErrorKeepsDefault(t *testing.T) {
	c, ds := mustParse(t, `[service.api]
command = "./api"
startup_timeout = "10s"
`)
	if !HasErrors(ds) {
		t.Fatal("no error for a string timeout")
	}
	if got := c.Services["api"].StartupTimeout; got != 10 {
		t.Errorf("StartupTimeout = %d, want the default 10", got)
	}
}

func TestInlineMounts(t *testing.T) {
	c := mustParseClean(t, `[service.api]
command = "./api"
mounts = [{ source = "/a", destination = "/b", readonly = true }]
`)
	if got := c.Services["api"].Mounts; len(got) != 1 || got[0] != (Mount{"/a", "/b", true}) {
		t.Errorf("Mounts = %+v", got)
	}
}
