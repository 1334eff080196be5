package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tenement/ten/orchestrator/fsutil"
	"github.com/tenement/ten/runtime/handoff"
)

type watchOut struct {
	For      string  `json:"for"`
	PID      int     `json:"pid"`
	Checks   int     `json:"checks"`
	Requests float64 `json:"requests"`
	Errors   float64 `json:"errors_5xx"`
	Restarts float64 `json:"restarts"`
}

// doWatch watches the new server for the watch window: its health (it must
// stay the same process, answering as version To), its tenants' restarts
// and its 5xx rate from /metrics. Any regression fails the step, which
// rolls the upgrade back.
func (u *upgrade) doWatch(ctx context.Context) (any, error) {
	st, err := handoff.NewControlClient(u.p.DataDir).Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("the new server is gone: %w", err)
	}
	if st.Version != u.p.To {
		return nil, fmt.Errorf("the server on %s is ten %s, not %s", u.p.DataDir, st.Version, u.p.To)
	}
	url := "http://" + dialAddr(st.Addr)
	base, err := getMetrics(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("read the new server's metrics: %w", err)
	}
	out := watchOut{For: u.p.Watch.D().String(), PID: st.PID}
	deadline := time.Now().Add(u.p.Watch.D())
	fails := 0
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(500*time.Millisecond, time.Until(deadline)+time.Millisecond)):
		}
		out.Checks++
		if !sameProcess(st.PID, st.ProcStartTime) {
			return nil, fmt.Errorf("the new server (pid %d) exited during the watch", st.PID)
		}
		h, err := getHealth(ctx, url)
		switch {
		case err != nil:
			fails++
		case h.PID != st.PID:
			return nil, fmt.Errorf("/health is answered by pid %d, not the new server %d", h.PID, st.PID)
		default:
			fails = 0
		}
		if fails >= 3 {
			return nil, fmt.Errorf("the new server failed 3 health checks in a row: %v", err)
		}
		m, err := getMetrics(ctx, url)
		if err != nil {
			continue
		}
		out.Requests, out.Errors, out.Restarts = m.Requests-base.Requests, m.Errors-base.Errors, m.Restarts-base.Restarts
		if out.Restarts > 0 {
			return nil, fmt.Errorf("tenants restarted %.0f time(s) under the new server during the watch", out.Restarts)
		}
		if out.Errors > 0 && out.Errors > u.p.MaxErrorRate*out.Requests {
			return nil, fmt.Errorf("5xx rate regressed during the watch: %.0f of %.0f proxied requests (max %.1f%%)", out.Errors, out.Requests, u.p.MaxErrorRate*100)
		}
	}
	return out, nil
}

func (u *upgrade) doCommit(context.Context) (any, error) {
	if u.p.KeepBackups > 0 {
		if err := fsutil.PruneBackups(u.backupsDir(), "tenement-*.db", u.p.KeepBackups); err != nil && !errors.Is(err, fs.ErrNotExist) {
			u.log.Warn("could not prune old database backups", "err", err)
		}
	}
	// Keep the candidate of this upgrade only: the rollback needs ten.bak,
	// not the new binary.
	if ents, err := os.ReadDir(filepath.Dir(u.p.Candidate)); err == nil {
		for _, e := range ents {
			p := filepath.Join(filepath.Dir(u.p.Candidate), e.Name())
			if p != u.p.Candidate {
				os.Remove(p)
			}
		}
	}
	return map[string]any{"committed_at": time.Now().UTC()}, nil
}
