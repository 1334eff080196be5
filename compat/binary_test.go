package compat

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// scripted is a Runner that answers from a table, keyed by the arguments.
type scripted struct {
	answers map[string]Output
	err     error
	calls   [][]string
}

func (s *scripted) Run(_ context.Context, c Command) (Output, error) {
	s.calls = append(s.calls, c.Args)
	if s.err != nil {
		return Output{}, s.err
	}
	out, ok := s.answers[strings.Join(c.Args, " ")]
	if !ok {
		return Output{ExitCode: 2, Stderr: []byte("unknown command")}, nil
	}
	return out, nil
}

func TestBinaryVersion(t *testing.T) {
	for _, tt := range []struct {
		out    Output
		want   string
		errHas string
	}{
		{Output{Stdout: []byte("ten 1.2.3\n")}, "1.2.3", ""},
		{Output{Stdout: []byte("ten v1.2.3\n")}, "1.2.3", ""},
		{Output{Stdout: []byte("tenement 0.2.1\n")}, "", "is it a ten binary"},
		{Output{Stdout: []byte("")}, "", "want \"ten X.Y.Z\""},
		{Output{ExitCode: 1, Stderr: []byte("boom\nmore")}, "", "exited 1: boom"},
	} {
		b := &Binary{Path: "ten", Runner: &scripted{answers: map[string]Output{"--version": tt.out}}}
		got, err := b.Version(context.Background())
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("%q: err = %v, want %q", tt.out.Stdout, err, tt.errHas)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.out.Stdout, got, err, tt.want)
		}
	}
}

func TestBinaryContract(t *testing.T) {
	r := &scripted{answers: map[string]Output{
		"version --json": {Stdout: []byte(`{"version":"1.1.0","api_version":"1.0","schema_version":3,"compat_floor":2}`)},
		"config --check --json --config /etc/t.toml --data-dir /d": {ExitCode: 1,
			Stdout: []byte(`{"ok":false,"file":"/etc/t.toml","errors":[{"severity":"error","message":"bad"}],"warnings":[]}`)},
		"migrate --db /tmp/a.db --json":             {Stdout: []byte(`{"database":"/tmp/a.db","from":2,"to":3,"floor":2,"applied":[{"version":3,"name":"x","kind":"expand"}]}`)},
		"migrate --db /tmp/new.db --json --dry-run": {ExitCode: 1, Stdout: []byte(`{"database":"/tmp/new.db","from":4,"to":4,"error":"database schema is version 4"}`)},
		"migrate --db /tmp/crash.db --json":         {ExitCode: 2, Stderr: []byte("panic: oops")},
		"migrate --db /tmp/nojson.db --json":        {ExitCode: 1, Stdout: []byte("Error: unknown flag: --json")},
	}}
	b := &Binary{Path: "ten", Runner: r}
	ctx := context.Background()

	info, err := b.Info(ctx)
	if err != nil || info.Version != "1.1.0" || info.SchemaVersion != 3 || info.CompatFloor != 2 {
		t.Errorf("Info = %+v, %v", info, err)
	}
	cr, err := b.CheckConfig(ctx, "/etc/t.toml", "/d")
	if err != nil || cr.OK || len(cr.Errors) != 1 {
		t.Errorf("NameConfig = %+v, %v", cr, err)
	}
	mr, err := b.Migrate(ctx, "/tmp/a.db", false)
	if err != nil || mr.To != 3 || len(mr.Applied) != 1 || mr.Error != "" {
		t.Errorf("Migrate = %+v, %v", mr, err)
	}
	mr, err = b.Migrate(ctx, "/tmp/new.db", true)
	if err != nil || mr.Error == "" {
		t.Errorf("refused Migrate = %+v, %v; want a report with an error", mr, err)
	}
	if _, err := b.Migrate(ctx, "/tmp/crash.db", false); err == nil || !strings.Contains(err.Error(), "panic: oops") {
		t.Errorf("crashing migrate: err = %v", err)
	}
	if _, err := b.Migrate(ctx, "/tmp/nojson.db", false); err == nil {
		t.Error("migrate without JSON output: no error")
	}
	if _, err := b.CheckConfig(ctx, "/missing.toml", ""); err == nil || !strings.Contains(err.Error(), "exited 2") {
		t.Errorf("config check exit 2: err = %v", err)
	}
	wantArgs := []string{"migrate", "--db", "/tmp/new.db", "--json", "--dry-run"}
	if !slices.ContainsFunc(r.calls, func(a []string) bool { return slices.Equal(a, wantArgs) }) {
		t.Errorf("calls %v lack %v", r.calls, wantArgs)
	}

	broken := &Binary{Path: "ten", Runner: &scripted{err: errors.New("exec format error")}}
	if _, err := broken.Info(ctx); err == nil {
		t.Error("a binary that cannot run answered Info")
	}
}

func TestExecRunner(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses /bin/sh")
	}
	sh, err := filepathLookSh()
	if err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	out, err := ExecRunner{}.Run(ctx, Command{Path: sh, Args: []string{"-c", "pwd; echo err >&2; exit 3"}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if out.ExitCode != 3 || strings.TrimSpace(string(out.Stderr)) != "err" {
		t.Errorf("out = %+v", out)
	}
	if got, _ := filepath.EvalSymlinks(strings.TrimSpace(string(out.Stdout))); got != mustEval(t, dir) {
		t.Errorf("ran in %q, want %q", got, dir)
	}
	if _, err := (ExecRunner{}).Run(ctx, Command{Path: filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing binary ran")
	}
	start := time.Now()
	if _, err := (ExecRunner{Timeout: 200 * time.Millisecond}).Run(ctx, Command{Path: sh, Args: []string{"-c", "exec sleep 30"}}); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("hung command: err = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("the timeout did not stop the command")
	}
}

func filepathLookSh() (string, error) {
	for _, p := range []string{"/bin/sh", "/usr/bin/sh"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no sh")
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	out, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
