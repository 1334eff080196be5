package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// upgradeReport is the part of `ten-upgrade run|rollback --json` the
// benchmark reads (docs/json-output.md).
type upgradeReport struct {
	Result     string        `json:"result"`
	DurationMS int64         `json:"duration_ms"`
	DowntimeMS *int64        `json:"downtime_ms"`
	Error      string        `json:"error"`
	FailedStep string        `json:"failed_step"`
	Steps      []upgradeStep `json:"steps"`
}

type upgradeStep struct {
	Name      string     `json:"name"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at"`
}

// stepMS is how long a step took, 0 if it did not run.
func (r *upgradeReport) stepMS(name string) float64 {
	for _, st := range r.Steps {
		if st.Name == name && st.EndedAt != nil {
			return float64(st.EndedAt.Sub(st.StartedAt).Microseconds()) / 1000
		}
	}
	return 0
}

// tenUpgrade runs ten-upgrade with the site's config and --json and
// returns its report and wall time as seen from outside.
func (s *site) tenUpgrade(ctx context.Context, args ...string) (*upgradeReport, time.Time, time.Duration, error) {
	cmd := exec.CommandContext(ctx, s.b.upgrade, append([]string{"--config", s.config}, append(args, "--json")...)...)
	cmd.Env = s.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	logFile := filepath.Join(s.dir, "ten-upgrade-"+args[0]+".log")
	if werr := os.WriteFile(logFile, errb.Bytes(), 0o644); werr != nil {
		slog.Warn("keep ten-upgrade's log", "err", werr)
	}
	var rep upgradeReport
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		return nil, start, took, fmt.Errorf("ten-upgrade %s: %v; output not JSON: %v\n%s", strings.Join(args, " "), err, jerr, tail(errb.String(), 2000))
	}
	if err != nil || (rep.Result != "committed" && rep.Result != "rolled_back") {
		return &rep, start, took, fmt.Errorf("ten-upgrade %s: %v: result %s, failed step %q: %s\n%s", args[0], err, rep.Result, rep.FailedStep, rep.Error, tail(errb.String(), 2000))
	}
	return &rep, start, took, nil
}
