package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Command is one run of a ten binary.
type Command struct {
	Path string
	Args []string
	// Dir is the working directory; "" keeps the caller's.
	Dir string
}

func (c Command) String() string { return c.Path + " " + strings.Join(c.Args, " ") }

// Output is what a finished command printed and how it exited.
type Output struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Runner runs commands. It returns an error only when the command could not
// be run to completion (not found, not executable, killed, timed out); a
// non-zero exit status is reported in Output.ExitCode.
type Runner interface {
	Run(ctx context.Context, cmd Command) (Output, error)
}

// maxOutput caps what is kept of a command's stdout and stderr.
const maxOutput = 16 << 20

// ExecRunner runs commands as child processes with the caller's
// environment.
type ExecRunner struct {
	// Timeout bounds each command (default 2 minutes).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, c Command) (Output, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = os.Environ()
	cmd.Stdin = nil
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr capped
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	out := Output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if r.Logger != nil {
		r.Logger.Debug("ran command", "cmd", c.String(), "took", time.Since(start).Round(time.Millisecond), "err", err)
	}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return out, fmt.Errorf("%s: %w", c, ctx.Err())
	case errors.As(err, &ee) && ee.Exited():
		out.ExitCode = ee.ExitCode()
		return out, nil
	case err != nil:
		return out, fmt.Errorf("run %s: %w", c, err)
	}
	return out, nil
}

// capped is a bytes.Buffer that keeps at most maxOutput bytes.
type capped struct{ bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := maxOutput - c.Len(); room > 0 {
		if len(p) > room {
			c.Buffer.Write(p[:room])
		} else {
			c.Buffer.Write(p)
		}
	}
	return len(p), nil
}

var _ io.Writer = (*capped)(nil)

// Binary is a ten executable that is asked about itself through the
// command-line contract (`--version`, `version --json`, `config --check
// --json`, `migrate --json`). It is never linked.
type Binary struct {
	Path   string
	Runner Runner
	// Dir is the working directory for its commands.
	Dir string
}

func (b *Binary) run(ctx context.Context, args ...string) (Output, error) {
	r := b.Runner
	if r == nil {
		r = ExecRunner{}
	}
	return r.Run(ctx, Command{Path: b.Path, Args: args, Dir: b.Dir})
}

// Version runs `ten --version` and returns the version it prints
// ("ten 1.2.3" -> "1.2.3").
func (b *Binary) Version(ctx context.Context) (string, error) {
	out, err := b.run(ctx, "--version")
	if err != nil {
		return "", err
	}
	if out.ExitCode != 0 {
		return "", fmt.Errorf("%s --version exited %d: %s", b.Path, out.ExitCode, firstLine(out.Stderr))
	}
	line := firstLine(out.Stdout)
	name, v, ok := strings.Cut(line, " ")
	if !ok || name != "ten" || v == "" {
		return "", fmt.Errorf("%s --version printed %q, want \"ten X.Y.Z\": is it a ten binary?", b.Path, line)
	}
	return strings.TrimPrefix(strings.TrimSpace(v), "v"), nil
}

// Info runs `ten version --json`.
func (b *Binary) Info(ctx context.Context) (VersionInfo, error) {
	var info VersionInfo
	out, err := b.run(ctx, "version", "--json")
	if err != nil {
		return info, err
	}
	if out.ExitCode != 0 {
		return info, fmt.Errorf("%s version --json exited %d: %s", b.Path, out.ExitCode, firstLine(out.Stderr))
	}
	if err := json.Unmarshal(out.Stdout, &info); err != nil {
		return info, fmt.Errorf("%s version --json: %w", b.Path, err)
	}
	return info, nil
}

// NameConfig runs `ten config --check --json --config path` (with
// --data-dir when dataDir is set). Exit 0 (valid), 1 (errors) and 3
// (warnings with --strict) all come with a report.
func (b *Binary) CheckConfig(ctx context.Context, path, dataDir string) (ConfigReport, error) {
	var rep ConfigReport
	args := []string{"config", "--check", "--json", "--config", path}
	if dataDir != "" {
		args = append(args, "--data-dir", dataDir)
	}
	out, err := b.run(ctx, args...)
	if err != nil {
		return rep, err
	}
	switch out.ExitCode {
	case 0, 1, 3:
	default:
		return rep, fmt.Errorf("%s config --check exited %d: %s", b.Path, out.ExitCode, firstLine(out.Stderr))
	}
	if err := json.Unmarshal(out.Stdout, &rep); err != nil {
		return rep, fmt.Errorf("%s config --check --json (exit %d): %w: %s", b.Path, out.ExitCode, err, firstLine(out.Stderr))
	}
	return rep, nil
}

// Migrate runs `ten migrate --db path --json` (read-only with dryRun). A
// migration the binary refuses (exit 1 with a report) is returned as a
// report whose Error is set, not as an error; err is for a binary that
// could not be asked at all.
func (b *Binary) Migrate(ctx context.Context, path string, dryRun bool) (MigrateReport, error) {
	var rep MigrateReport
	args := []string{"migrate", "--db", path, "--json"}
	if dryRun {
		args = append(args, "--dry-run")
	}
	out, err := b.run(ctx, args...)
	if err != nil {
		return rep, err
	}
	if out.ExitCode != 0 && out.ExitCode != 1 {
		return rep, fmt.Errorf("%s migrate exited %d: %s", b.Path, out.ExitCode, firstLine(out.Stderr))
	}
	if err := json.Unmarshal(out.Stdout, &rep); err != nil {
		return rep, fmt.Errorf("%s migrate --json (exit %d): %w: %s", b.Path, out.ExitCode, err, firstLine(out.Stderr))
	}
	if out.ExitCode == 1 && rep.Error == "" {
		rep.Error = firstLine(out.Stderr)
		if rep.Error == "" {
			rep.Error = "migrate exited 1"
		}
	}
	return rep, nil
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}
