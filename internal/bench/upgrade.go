package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tenement/ten/internal/site"
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
func tenUpgrade(ctx context.Context, s *site.Site, args ...string) (*upgradeReport, time.Time, time.Duration, error) {
	r, err := s.Upgrade(ctx, nil, nil, append(args, "--json")...)
	if err != nil {
		return nil, r.Start, r.Took, err
	}
	logFile := filepath.Join(s.Dir, "ten-upgrade-"+args[0]+".log")
	if werr := os.WriteFile(logFile, []byte(r.Stderr), 0o644); werr != nil {
		slog.Warn("keep ten-upgrade's log", "err", werr)
	}
	var rep upgradeReport
	if jerr := json.Unmarshal([]byte(r.Stdout), &rep); jerr != nil {
		return nil, r.Start, r.Took, fmt.Errorf("ten-upgrade %s: exit %d; output not JSON: %v\n%s", strings.Join(args, " "), r.Code, jerr, site.Tail(r.Stderr, 2000))
	}
	if r.Code != 0 || (rep.Result != "committed" && rep.Result != "rolled_back") {
		return &rep, r.Start, r.Took, fmt.Errorf("ten-upgrade %s: exit %d: result %s, failed step %q: %s\n%s", args[0], r.Code, rep.Result, rep.FailedStep, rep.Error, site.Tail(r.Stderr, 2000))
	}
	return &rep, r.Start, r.Took, nil
}
