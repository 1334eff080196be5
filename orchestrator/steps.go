package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tenement/ten/internal/fsutil"
	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/orchestrator/journal"
	"github.com/tenement/ten/runtime/handoff"
)

// upgrade is one upgrade being run, resumed or rolled back: its params (from
// the journal) and the runner that journals its steps. Every Do and Undo
// works from the params and the journaled outputs of earlier steps, so that
// another process can take over after a crash.
type upgrade struct {
	p   *Params
	s   strategy
	j   *journal.Journal
	id  int64
	r   *journal.Runner
	log *slog.Logger
	out io.Writer

	mu    sync.Mutex
	notes []string
	avail *availabilityProbe
	// journaled are the outputs recorded for this upgrade's steps when it
	// was loaded from the journal.
	journaled map[string]json.RawMessage
}

func (u *upgrade) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	u.mu.Lock()
	u.notes = append(u.notes, msg)
	u.mu.Unlock()
	u.log.Info(msg)
}

// say prints a progress line for the operator.
func (u *upgrade) say(format string, args ...any) {
	if u.out != nil {
		fmt.Fprintf(u.out, format+"\n", args...)
	}
}

// step is one step of an upgrade: what the plan says it does and how it is
// undone, beside the action and the undo the runner carries out. The plan
// and the runner read the same list, so they cannot disagree.
type step struct {
	PlanStep
	input any
	do    func(context.Context) (any, error)
	undo  func(context.Context, json.RawMessage) error
}

// steps are the steps of the upgrade, in StepNames order.
func (u *upgrade) steps() []step {
	p := u.p
	bak := p.Installed + ".bak"
	lockFile := filepath.Join(p.StateDir, journal.LockFileName)
	installation := []string{dataDirLockPath(p.DataDir), binaryLockPath(p.Installed)}
	sw := u.s.describe(p)
	sw.Name = StepSwitch
	return []step{{
		// lock, fetch and compat are carried out before the upgrade is
		// journaled (its target version is only known once the release
		// is fetched); their steps record them.
		PlanStep: PlanStep{Name: StepLock, Undo: "released on exit",
			Does: fmt.Sprintf("take %s, %s and %s (one upgrade of this installation at a time, whatever its state directory)", installation[0], installation[1], lockFile)},
		do: record(lockOut{PID: os.Getpid(), Path: lockFile, Installation: installation}),
	}, {
		PlanStep: PlanStep{Name: StepFetch, Undo: "remove the kept copy",
			Does: fmt.Sprintf("verified ten %s kept as %s (sha256 %s)", p.To, p.Candidate, short(p.CandidateSHA256))},
		input: map[string]string{"candidate": p.Candidate}, do: u.doFetch, undo: u.undoFetch,
	}, {
		PlanStep: PlanStep{Name: StepCompat, Undo: "nothing",
			Does: fmt.Sprintf("config and database checked with the candidate: overlap possible %v, rollback needs database restore %v", p.OverlapOK, p.RestoreDBNeeds)},
		do: record(compatOut{OverlapPossible: p.OverlapOK, RollbackNeedsDBRestore: p.RestoreDBNeeds}),
	}, {
		PlanStep: PlanStep{Name: StepBackupBinary, Undo: "keep the backup",
			Does: fmt.Sprintf("copy %s to %s (fsync; the previous .bak becomes .bak.1)", p.Installed, bak)},
		input: map[string]string{"installed": p.Installed}, do: u.doBackupBinary,
	}, {
		PlanStep: PlanStep{Name: StepBackupDB, Undo: "restore it only if the schema moved past ten " + p.From + "'s; otherwise keep the newer data",
			Does: fmt.Sprintf("online backup of %s into %s (integrity-checked, 0600, keep %d)", p.DB, u.backupsDir(), p.KeepBackups)},
		input: map[string]string{"db": p.DB}, do: u.doBackupDB, undo: u.undoBackupDB,
	}, {
		PlanStep: PlanStep{Name: StepStage, Undo: "remove the staged file", Does: fmt.Sprintf("copy the candidate to %s", p.Staged)},
		input:    map[string]string{"staged": p.Staged}, do: u.doStage, undo: u.undoStage,
	}, {
		PlanStep: sw,
		input:    map[string]any{"strategy": p.Strategy, "port": p.Port, "nonce": p.Nonce}, do: u.doSwitch, undo: u.undoSwitch,
	}, {
		PlanStep: PlanStep{Name: StepPromote, Undo: "put ten " + p.From + " back from " + bak,
			Does: fmt.Sprintf("rename %s over %s (never an instant without a binary there; fsync the directory)", p.Staged, p.Installed)},
		input: map[string]string{"staged": p.Staged, "installed": p.Installed}, do: u.doPromote, undo: u.undoPromote,
	}, {
		PlanStep: PlanStep{Name: StepWatch, Undo: "nothing",
			Does: fmt.Sprintf("watch the new server for %s: health, restarts, 5xx rate above %.1f%% in /metrics", p.Watch.D(), p.MaxErrorRate*100)},
		input: map[string]string{"for": p.Watch.D().String()}, do: u.doWatch,
	}, {
		PlanStep: PlanStep{Name: StepCommit, Undo: "nothing", Does: "record the upgrade committed; prune old backups"},
		do:       u.doCommit,
	}}
}

// record is the action of a step that only records what was done before
// the upgrade was journaled.
func record(out any) func(context.Context) (any, error) {
	return func(context.Context) (any, error) { return out, nil }
}

// plan is what the upgrade will do, step by step: the dry run prints it
// and the confirmation prompt shows it.
func (u *upgrade) plan() []PlanStep {
	var out []PlanStep
	for _, s := range u.steps() {
		out = append(out, s.PlanStep)
	}
	return out
}

// actions are the steps as the runner's actions.
func (u *upgrade) actions() []journal.Action {
	var acts []journal.Action
	for _, s := range u.steps() {
		acts = append(acts, u.instrument(journal.Action{Name: s.Name, Input: s.input, Do: s.do, Undo: s.undo}))
	}
	return acts
}

// instrument wraps an action with progress output and the fault-injection
// points of the crash tests (see faultPoint).
func (u *upgrade) instrument(a journal.Action) journal.Action {
	do := a.Do
	name := a.Name
	a.Do = func(ctx context.Context) (any, error) {
		faultPoint("before", name)
		start := time.Now()
		u.say("  %-14s ...", name)
		out, err := do(ctx)
		if err != nil {
			u.say("  %-14s FAILED after %s: %v", name, time.Since(start).Round(time.Millisecond), err)
			return out, err
		}
		u.say("  %-14s done (%s)", name, time.Since(start).Round(time.Millisecond))
		faultPoint("after", name)
		return out, nil
	}
	if undo := a.Undo; undo != nil {
		a.Undo = func(ctx context.Context, out json.RawMessage) error {
			faultPoint("undo", name)
			u.say("  undo %-9s ...", name)
			err := undo(ctx, out)
			if err != nil {
				u.say("  undo %-9s FAILED: %v", name, err)
			} else {
				u.say("  undo %-9s done", name)
			}
			return err
		}
	}
	return a
}

// output decodes the journaled output of an earlier step; false if the step
// has none. The runner knows the outputs of this run (and of the steps a
// resume skips); for a rollback they come from the journal as loaded.
func (u *upgrade) output(step string, v any) bool {
	if u.r.Output(step, v) == nil {
		return true
	}
	raw, ok := u.journaled[step]
	return ok && raw != nil && json.Unmarshal(raw, v) == nil
}

// lockOut records the locks taken: the journal's and the installation's
// (the data directory's and the binary's).
type lockOut struct {
	PID          int      `json:"pid"`
	Path         string   `json:"path"`
	Installation []string `json:"installation"`
}

type compatOut struct {
	OverlapPossible        bool `json:"overlap_possible"`
	RollbackNeedsDBRestore bool `json:"rollback_needs_db_restore"`
}

type fetchOut struct {
	Candidate string `json:"candidate"`
	SHA256    string `json:"sha256"`
	Version   string `json:"version"`
}

// doFetch makes sure the kept candidate is still the one verified.
func (u *upgrade) doFetch(context.Context) (any, error) {
	if !fileIs(u.p.Candidate, u.p.CandidateSHA256) {
		return nil, fmt.Errorf("the verified candidate %s is missing or changed since it was checked: run ten-upgrade run again to fetch and verify it anew", u.p.Candidate)
	}
	return fetchOut{Candidate: u.p.Candidate, SHA256: u.p.CandidateSHA256, Version: u.p.To}, nil
}

// undoFetch removes the kept candidate once the fetch is known done. After
// an interruption (no output) it keeps it: a resume re-runs the step with
// it, and a leftover copy is pruned by the next commit.
func (u *upgrade) undoFetch(_ context.Context, out json.RawMessage) error {
	if out == nil {
		return nil
	}
	if err := os.Remove(u.p.Candidate); err != nil && !errors.Is(err, fs.ErrNotExist) {
		u.log.Warn("could not remove the kept candidate", "path", u.p.Candidate, "err", err)
	}
	return nil
}

// --- watch, commit

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
		if !proc.Same(st.PID, st.ProcStartTime) {
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
