package config

import (
	"maps"
	"slices"
	"testing"
)

func TestInterpolate(t *testing.T) {
	s := DefaultService()
	s.Socket = "/run/{name}/{id}.sock"
	vars := Vars{Name: "api", ID: "prod", DataDir: "/srv/ten", Port: 30001}

	tests := []struct {
		in, want string
	}{
		{"{name}", "api"},
		{"{id}", "prod"},
		{"{data_dir}", "/srv/ten"},
		{"{port}", "30001"},
		{"{socket}", "/run/api/prod.sock"},
		{"{data_dir}/{name}/{id}/app.db", "/srv/ten/api/prod/app.db"},
		{"127.0.0.1:{port}", "127.0.0.1:30001"},
		{"{id}{id}", "prodprod"},
		{"no placeholders", "no placeholders"},
		{"", ""},
		// Unknown placeholders, including shell syntax, are left alone.
		{"${HOME}/{unknown}/{ID}", "${HOME}/{unknown}/{ID}"},
		{"{name", "{name"},
	}
	for _, tt := range tests {
		if got := s.Interpolate(tt.in, vars); got != tt.want {
			t.Errorf("Interpolate(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Substituted values are not scanned again.
func TestInterpolateSinglePass(t *testing.T) {
	s := DefaultService()
	got := s.Interpolate("{data_dir}/{id}", Vars{ID: "x", DataDir: "/weird/{id}"})
	if want := "/weird/{id}/x"; got != want {
		t.Errorf("Interpolate = %q, want %q", got, want)
	}
}

func TestInterpolatePort(t *testing.T) {
	tests := []struct {
		name      string
		fixed     int
		allocated int
		want      string
	}{
		{"allocated", 0, 30001, "p=30001"},
		{"fixed", 8080, 0, "p=8080"},
		{"allocated beats fixed", 8080, 30001, "p=30001"},
		{"none", 0, 0, "p="},
	}
	for _, tt := range tests {
		s := DefaultService()
		s.Port = tt.fixed
		if got := s.Interpolate("p={port}", Vars{Port: tt.allocated}); got != tt.want {
			t.Errorf("%s: Interpolate = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestInterpolateServiceFromFile(t *testing.T) {
	c := mustParseClean(t, `
[settings]
data_dir = "/srv/ten"

[service.api]
command = "./bin/{name} --id={id}"
args = ["--data", "{data_dir}/{name}/{id}", "--listen", "127.0.0.1:{port}", "--socket", "{socket}", "plain"]
socket = "/tmp/{name}-{id}.sock"

[service.api.env]
DATABASE_PATH = "{data_dir}/{id}/app.db"
PORT = "{port}"
SERVICE = "{name}"
SOCKET_PATH = "{socket}"
LOG_LEVEL = "info"
`)
	s := c.Services["api"]
	vars := Vars{Name: "api", ID: "user123", DataDir: c.Settings.DataDir, Port: 31000}

	if got, want := s.CommandFor(vars), "./bin/api --id=user123"; got != want {
		t.Errorf("CommandFor = %q, want %q", got, want)
	}
	if got, want := s.Interpolate(s.Command, vars), "./bin/api --id=user123"; got != want {
		t.Errorf("Interpolate(command) = %q, want %q", got, want)
	}

	wantArgs := []string{"--data", "/srv/ten/api/user123", "--listen", "127.0.0.1:31000", "--socket", "/tmp/api-user123.sock", "plain"}
	if got := s.ArgsFor(vars); !slices.Equal(got, wantArgs) {
		t.Errorf("ArgsFor = %q, want %q", got, wantArgs)
	}

	wantEnv := map[string]string{
		"DATABASE_PATH": "/srv/ten/user123/app.db",
		"PORT":          "31000",
		"SERVICE":       "api",
		"SOCKET_PATH":   "/tmp/api-user123.sock",
		"LOG_LEVEL":     "info",
	}
	if got := s.EnvFor(vars); !maps.Equal(got, wantEnv) {
		t.Errorf("EnvFor = %v, want %v", got, wantEnv)
	}

	// The templates themselves are untouched.
	if s.Env["DATABASE_PATH"] != "{data_dir}/{id}/app.db" || s.Args[1] != "{data_dir}/{name}/{id}" {
		t.Errorf("interpolation modified the service: %+v", s)
	}
}

func TestEnvForEmpty(t *testing.T) {
	s := &Service{}
	if got := s.EnvFor(Vars{}); got == nil || len(got) != 0 {
		t.Errorf("EnvFor on a service without env = %v, want an empty map", got)
	}
	if got := s.ArgsFor(Vars{}); got == nil || len(got) != 0 {
		t.Errorf("ArgsFor on a service without args = %v, want an empty slice", got)
	}
}

func TestSocketPath(t *testing.T) {
	s := DefaultService()
	if got, want := s.SocketPath(Vars{Name: "api", ID: "prod"}), "/tmp/tenement/api-prod.sock"; got != want {
		t.Errorf("SocketPath = %q, want %q", got, want)
	}
	// The socket pattern cannot refer to itself.
	s.Socket = "/tmp/{socket}"
	if got, want := s.SocketPath(Vars{}), "/tmp/{socket}"; got != want {
		t.Errorf("SocketPath = %q, want %q", got, want)
	}
}
