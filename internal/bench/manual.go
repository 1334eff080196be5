package bench

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tenement/ten/internal/site"
)

// manualScript is the manual upgrade procedure, the reference the
// strategies are measured against; a shell script so that it is the
// procedure an operator would run, not a Go rendition of it.
//
//go:embed manual-upgrade.sh
var manualScript []byte

// manual runs the manual procedure against the site and its Caddy (in
// Caddyfile mode), and returns when it started, how long it took and its
// steps, in seconds since t0.
func manual(ctx context.Context, s *site.Site, newBin string, f *site.Front, t0 time.Time) (time.Time, time.Duration, []mark, error) {
	h, err := site.GetHealth(ctx, s.URL)
	if err != nil {
		return time.Now(), 0, nil, err
	}
	newPort, err := site.FreePort()
	if err != nil {
		return time.Now(), 0, nil, err
	}
	script := filepath.Join(s.Dir, "manual-upgrade.sh")
	if err := os.WriteFile(script, manualScript, 0o755); err != nil {
		return time.Now(), 0, nil, err
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", script)
	cmd.Env = s.Environ(
		"NEW="+newBin, "CONFIG="+s.Config, "OLD_PORT="+fmt.Sprint(s.Port), "NEW_PORT="+fmt.Sprint(newPort),
		"OLD_PID="+fmt.Sprint(h.PID), "CADDYFILE="+f.Caddyfile, "CADDY="+f.Bin, "LOG="+s.Log)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if werr := os.WriteFile(filepath.Join(s.Dir, "manual-upgrade.log"), out, 0o644); werr != nil {
		slog.Warn("keep the manual procedure's log", "err", werr)
	}
	marks := scriptMarks(string(out), t0)
	if err != nil {
		return start, took, marks, fmt.Errorf("manual procedure: %v\n%s", err, site.Tail(string(out), 2000))
	}
	return start, took, marks, nil
}

// scriptMarks reads the script's "STEP name unix-nanoseconds" lines.
func scriptMarks(out string, t0 time.Time) []mark {
	var marks []mark
	for _, l := range strings.Split(out, "\n") {
		var name string
		var ns int64
		if n, _ := fmt.Sscanf(l, "STEP %s %d", &name, &ns); n == 2 {
			marks = append(marks, mark{t: time.Unix(0, ns).Sub(t0).Seconds(), label: name})
		}
	}
	return marks
}
