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
	"strings"
	"sync"
	"time"

	"github.com/tenement/ten/internal/fault"
	"github.com/tenement/ten/internal/fsutil"
	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/internal/sqlitefile"
	"github.com/tenement/ten/migrations"
	"github.com/tenement/ten/orchestrator/journal"
	"github.com/tenement/ten/orchestrator/release"
	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/handoff"
	"github.com/tenement/ten/runtime/store"
)

// upgrade is one upgrade being run, resumed or rolled back: its params (from
// the journal) and the runner that journals its steps. Every Do and Undo
// works from the params and the journaled outputs of earlier steps, so that
// another process can take over after a crash.
type upgrade struct {
	p   *Params
	j   *journal.Journal
	id  int64
	r   *journal.Runner
	log *slog.Logger
	out io.Writer

	mu       sync.Mutex
	notes    []string
	cand     *started // the candidate, when this process started it
	downtime time.Duration
	avail    *availabilityProbe
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

// actions is the plan as journal actions, in StepNames order.
func (u *upgrade) actions() []journal.Action {
	acts := []journal.Action{
		{Name: StepLock, Do: u.doLock},
		{Name: StepFetch, Input: map[string]string{"candidate": u.p.Candidate}, Do: u.doFetch, Undo: u.undoFetch},
		{Name: StepCompat, Do: u.doCompat},
		{Name: StepBackupBinary, Input: map[string]string{"installed": u.p.Installed}, Do: u.doBackupBinary},
		{Name: StepBackupDB, Input: map[string]string{"db": u.p.DB}, Do: u.doBackupDB, Undo: u.undoBackupDB},
		{Name: StepStage, Input: map[string]string{"staged": u.p.Staged}, Do: u.doStage, Undo: u.undoStage},
		{Name: StepSwitch, Input: map[string]any{"strategy": u.p.Strategy, "port": u.p.Port, "nonce": u.p.Nonce}, Do: u.doSwitch, Undo: u.undoSwitch},
		{Name: StepPromote, Input: map[string]string{"staged": u.p.Staged, "installed": u.p.Installed}, Do: u.doPromote, Undo: u.undoPromote},
		{Name: StepWatch, Input: map[string]string{"for": u.p.Watch.D().String()}, Do: u.doWatch},
		{Name: StepCommit, Do: u.doCommit},
	}
	for i := range acts {
		acts[i] = u.instrument(acts[i])
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

// FaultEnv names the environment variable of the fault-injection points
// used by the crash tests: "after:STEP" kills ten-upgrade with SIGKILL once
// STEP's action has had its effect (before the journal records it done),
// "before:STEP" as STEP starts, "undo:STEP" as STEP's undo starts, and
// "pause:STEP" stops the process (SIGSTOP) as STEP starts, so that a test
// can change the machine under it. Unset, it does nothing. See
// internal/fault.
const FaultEnv = fault.Env

func faultPoint(point, step string) {
	fault.Point(point, step)
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

// --- lock, fetch, compat: carried out before the upgrade is journaled
// (its target version is only known once the release is fetched), and
// recorded as its first steps.

type lockOut struct {
	PID  int    `json:"pid"`
	Path string `json:"path"`
	// Installation are the locks of the data directory and the binary.
	Installation []string `json:"installation"`
}

func (u *upgrade) doLock(context.Context) (any, error) {
	return lockOut{PID: os.Getpid(), Path: filepath.Join(u.p.StateDir, journal.LockFileName),
		Installation: []string{dataDirLockPath(u.p.DataDir), binaryLockPath(u.p.Installed)}}, nil
}

type fetchOut struct {
	Candidate string `json:"candidate"`
	SHA256    string `json:"sha256"`
	Version   string `json:"version"`
}

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

type compatOut struct {
	OverlapPossible        bool `json:"overlap_possible"`
	RollbackNeedsDBRestore bool `json:"rollback_needs_db_restore"`
}

func (u *upgrade) doCompat(context.Context) (any, error) {
	return compatOut{OverlapPossible: u.p.OverlapOK, RollbackNeedsDBRestore: u.p.RestoreDBNeeds}, nil
}

// --- backups

type backupBinaryOut struct {
	Backup  string `json:"backup"`
	SHA256  string `json:"sha256"`
	Rotated bool   `json:"rotated"`
}

func (u *upgrade) doBackupBinary(context.Context) (any, error) {
	if !fileIs(u.p.Installed, u.p.InstalledSHA256) {
		return nil, fmt.Errorf("%s changed since it was checked (sha256 no longer %s): run ten-upgrade run again so the installed binary is checked anew", u.p.Installed, short(u.p.InstalledSHA256))
	}
	bak, rotated, err := fsutil.BackupBinary(u.p.Installed)
	if err != nil {
		return nil, fmt.Errorf("back up %s: %w", u.p.Installed, err)
	}
	return backupBinaryOut{Backup: bak, SHA256: u.p.InstalledSHA256, Rotated: rotated}, nil
}

type backupDBOut struct {
	Path   string `json:"path"` // "" when there was no database yet
	Size   int64  `json:"size"`
	Schema int    `json:"schema"`
	// SHA256 is the backup's, checked before it is restored ("" in
	// journals of older versions).
	SHA256 string `json:"sha256,omitempty"`
}

func (u *upgrade) backupsDir() string { return filepath.Join(u.p.StateDir, "backups") }

func (u *upgrade) doBackupDB(ctx context.Context) (any, error) {
	if !fileExists(u.p.DB) {
		u.note("no database at %s yet: nothing to back up", u.p.DB)
		return backupDBOut{}, nil
	}
	if err := os.MkdirAll(u.backupsDir(), 0o700); err != nil {
		return nil, err
	}
	dest := filepath.Join(u.backupsDir(), fmt.Sprintf("tenement-%s-u%d.db", time.Now().UTC().Format("20060102T150405Z"), u.id))
	if err := sqlitefile.BackupFile(ctx, u.p.DB, dest); err != nil {
		return nil, fmt.Errorf("back up the database: %w", err)
	}
	fi, err := os.Stat(dest)
	if err != nil {
		return nil, err
	}
	sum, err := release.FileSHA256(dest)
	if err != nil {
		return nil, err
	}
	st, _ := inspectDB(ctx, dest)
	return backupDBOut{Path: dest, Size: fi.Size(), Schema: st.Version, SHA256: sum}, nil
}

// undoBackupDB puts the database backup back only when the live database
// moved past what ten From can run on; otherwise the newer data is kept.
func (u *upgrade) undoBackupDB(ctx context.Context, _ json.RawMessage) error {
	_, err := u.restoreDBIfNeeded(ctx)
	return err
}

// inspectDB reads a database's schema state without writing it.
func inspectDB(ctx context.Context, path string) (migrations.State, error) {
	db, err := store.Open(ctx, path, store.Options{ReadOnly: true, NoMigrate: true})
	if err != nil {
		return migrations.State{}, err
	}
	defer db.Close()
	return migrations.Inspect(ctx, db.DB)
}

// needsDBRestore reports whether ten From cannot run on the live database:
// its compat floor is above the newest schema ten From knows.
func (u *upgrade) needsDBRestore(ctx context.Context) (bool, migrations.State, error) {
	if !fileExists(u.p.DB) {
		return false, migrations.State{}, nil
	}
	st, err := inspectDB(ctx, u.p.DB)
	if err != nil {
		return false, st, err
	}
	return st.Floor > u.p.FromSchema, st, nil
}

// restoreDBIfNeeded restores the pre-upgrade backup when the live database
// is past ten From's reach. No server may run on the data directory then.
func (u *upgrade) restoreDBIfNeeded(ctx context.Context) (bool, error) {
	need, st, err := u.needsDBRestore(ctx)
	if err != nil {
		return false, fmt.Errorf("inspect the live database: %w", err)
	}
	if !need {
		if st.Version > u.p.FromSchema {
			u.note("database kept: schema %d (floor %d) is still usable by ten %s; nothing written since the upgrade is lost", st.Version, st.Floor, u.p.From)
		}
		return false, nil
	}
	var b backupDBOut
	if !u.output(StepBackupDB, &b) || b.Path == "" {
		return false, fmt.Errorf("the database is at schema %d (floor %d), which ten %s cannot run on, and there is no backup to restore", st.Version, st.Floor, u.p.From)
	}
	if _, err := handoff.NewControlClient(u.p.DataDir).Status(ctx); err == nil {
		return false, errors.New("a server still runs on the data directory: stop it before the database can be restored")
	}
	if b.SHA256 != "" {
		if err := changedError("the database backup", b.Path, b.SHA256); err != nil {
			return false, fmt.Errorf("%w: refusing to restore it; put back the backup this upgrade took, or restore one you trust by hand", err)
		}
	}
	if err := restoreDatabase(ctx, b.Path, u.p.DB); err != nil {
		return false, err
	}
	if err := u.j.MarkPointOfNoReturn(context.WithoutCancel(ctx), u.id); err != nil {
		u.log.Warn("could not mark the point of no return", "err", err)
	}
	u.note("database restored from %s: it was at schema %d (floor %d), past ten %s's %d; changes written since the backup are lost", b.Path, st.Version, st.Floor, u.p.From, u.p.FromSchema)
	return true, nil
}

// restoreDatabase replaces the live database file with a backup: the copy
// is written beside it and checked, the old WAL and shared-memory files are
// removed (they belong to the replaced file), then the copy is renamed into
// place and the directory fsynced.
func restoreDatabase(ctx context.Context, backup, db string) error {
	if err := sqlitefile.IntegrityCheck(ctx, backup); err != nil {
		return fmt.Errorf("backup %s: %w", backup, err)
	}
	tmp := db + ".restoring"
	if _, err := fsutil.CopyFile(backup, tmp, 0o600); err != nil {
		return err
	}
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(db + s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(tmp, db); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(db))
}

// --- stage, promote

type stageOut struct {
	Staged string `json:"staged"`
	SHA256 string `json:"sha256"`
}

func (u *upgrade) doStage(context.Context) (any, error) {
	sum, err := fsutil.CopyFile(u.p.Candidate, u.p.Staged, 0o755)
	if err != nil {
		return nil, fmt.Errorf("stage: %w", err)
	}
	if sum != u.p.CandidateSHA256 {
		return nil, fmt.Errorf("stage: %s changed since it was verified (sha256 %s, want %s): run ten-upgrade run again to fetch and verify it anew", u.p.Candidate, short(sum), short(u.p.CandidateSHA256))
	}
	return stageOut{Staged: u.p.Staged, SHA256: u.p.CandidateSHA256}, nil
}

func (u *upgrade) undoStage(context.Context, json.RawMessage) error {
	err := os.Remove(u.p.Staged)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// A leftover staged file is harmless; it must not stop the rollback.
		u.note("could not remove the staged binary %s: %v", u.p.Staged, err)
	}
	return nil
}

type promoteOut struct {
	Installed string `json:"installed"`
	SHA256    string `json:"sha256"`
}

func (u *upgrade) doPromote(ctx context.Context) (any, error) {
	if !fileIs(u.p.Installed, u.p.CandidateSHA256) {
		if !fileIs(u.p.Staged, u.p.CandidateSHA256) {
			// Re-run after an interruption whose undo put the old binary
			// back: stage again from the kept candidate, checked as it is
			// copied.
			if _, err := u.doStage(ctx); err != nil {
				return nil, fmt.Errorf("stage again: %w", err)
			}
		}
		if err := fsutil.Promote(u.p.Staged, u.p.Installed); err != nil {
			return nil, err
		}
	}
	return promoteOut{Installed: u.p.Installed, SHA256: u.p.CandidateSHA256}, nil
}

// undoPromote puts ten From back at the installed path from its backup.
func (u *upgrade) undoPromote(context.Context, json.RawMessage) error {
	if fileIs(u.p.Installed, u.p.InstalledSHA256) {
		return nil
	}
	bak, err := u.backupOfFrom()
	if err != nil {
		return err
	}
	mode := fs.FileMode(0o755)
	if fi, err := os.Stat(bak); err == nil {
		mode = fi.Mode().Perm()
	}
	if _, err := fsutil.CopyFile(bak, u.p.Installed, mode); err != nil {
		return fmt.Errorf("restore %s from %s: %w", u.p.Installed, bak, err)
	}
	return nil
}

// backupOfFrom finds a file that holds ten From: the backup made by this
// upgrade, or the previous one.
func (u *upgrade) backupOfFrom() (string, error) {
	var b backupBinaryOut
	cands := []string{}
	if u.output(StepBackupBinary, &b) && b.Backup != "" {
		cands = append(cands, b.Backup)
	}
	cands = append(cands, u.p.Installed+".bak", u.p.Installed+".bak.1")
	for _, c := range cands {
		if fileIs(c, u.p.InstalledSHA256) {
			return c, nil
		}
	}
	return "", fmt.Errorf("no copy of ten %s (sha256 %s) found among %s", u.p.From, short(u.p.InstalledSHA256), strings.Join(cands, ", "))
}

// binaryOfFrom is the binary to run ten From from: the installed path when
// it holds ten From again, else its backup.
func (u *upgrade) binaryOfFrom() (string, error) {
	if fileIs(u.p.Installed, u.p.InstalledSHA256) {
		return u.p.Installed, nil
	}
	return u.backupOfFrom()
}

// --- switch

type switchOut struct {
	Strategy   string      `json:"strategy"`
	Old        *ServerProc `json:"old,omitempty"`
	New        ServerProc  `json:"new"`
	DowntimeMS int64       `json:"downtime_ms,omitempty"`
	Upstreams  []string    `json:"proxy_upstreams_before,omitempty"`
	Snapshot   string      `json:"proxy_snapshot,omitempty"` // file
}

func (u *upgrade) doSwitch(ctx context.Context) (any, error) {
	if err := u.verifyStaged(); err != nil {
		return nil, err
	}
	switch u.p.Strategy {
	case config.StrategyHandoff:
		return u.switchHandoff(ctx)
	case config.StrategyProxy:
		return u.switchProxy(ctx)
	case config.StrategyRestart:
		return u.switchRestart(ctx)
	}
	return nil, fmt.Errorf("unknown strategy %q", u.p.Strategy)
}

func (u *upgrade) undoSwitch(ctx context.Context, raw json.RawMessage) error {
	var out *switchOut
	if raw != nil {
		out = &switchOut{}
		if err := json.Unmarshal(raw, out); err != nil {
			return err
		}
	}
	switch u.p.Strategy {
	case config.StrategyHandoff:
		return u.unswitchHandoff(ctx, out)
	case config.StrategyProxy:
		return u.unswitchProxy(ctx, out)
	case config.StrategyRestart:
		return u.unswitchRestart(ctx, out)
	}
	return fmt.Errorf("unknown strategy %q", u.p.Strategy)
}

// currentFrom is the server serving ten From now: the one the upgrade
// started from, or the one an undo started in its place (a resumed switch
// runs after such an undo). Its arguments and directory are the recorded
// ones.
func (u *upgrade) currentFrom(ctx context.Context) (*ServerProc, error) {
	old := u.oldProc()
	if old == nil {
		return nil, nil
	}
	st, err := handoff.NewControlClient(u.p.DataDir).Status(ctx)
	if err != nil {
		if old.Alive() {
			return old, nil
		}
		return nil, fmt.Errorf("no server answers on %s: %w", u.p.DataDir, err)
	}
	if st.PID == old.PID && old.Alive() {
		return old, nil
	}
	if st.Version != u.p.From {
		return nil, fmt.Errorf("the server on %s is now pid %d (ten %s), not ten %s", u.p.DataDir, st.PID, st.Version, u.p.From)
	}
	cur := *old
	cur.PID, cur.StartTime, cur.Addr = st.PID, st.ProcStartTime, st.Addr
	return &cur, nil
}

// oldProc is the server that ran before the upgrade.
func (u *upgrade) oldProc() *ServerProc {
	o := u.p.Old
	if o == nil {
		return nil
	}
	return &ServerProc{PID: o.PID, StartTime: o.ProcStartTime, Addr: o.Addr, Binary: o.Executable, Args: o.Args, Dir: o.Dir}
}

// serveArgs are the arguments servers are started with: the old server's.
func (u *upgrade) baseArgs() ([]string, string, []string) {
	if o := u.p.Old; o != nil {
		env := o.Env
		if env == nil {
			env = u.p.OldEnv
		}
		return o.Args, o.Dir, env
	}
	args := []string{"serve", "--data-dir", u.p.DataDir}
	if u.p.ConfigPath != "" {
		args = append(args, "--config", u.p.ConfigPath)
	}
	return args, u.p.DataDir, nil
}

// startServer starts bin as a detached `ten serve` with args and a fresh
// nonce, waits for it on the control socket (to learn its address) and
// health-gates it.
func (u *upgrade) startServer(ctx context.Context, bin string, args []string, version, nonce string, addr string) (*started, error) {
	base, dir, env := u.baseArgs()
	if args == nil {
		args = base
	}
	s, err := startDetached(bin, args, dir, serveEnv(env, envHealthNonce+"="+nonce), u.p.ServeLog)
	if err != nil {
		return nil, err
	}
	s.Nonce = nonce
	if addr == "" {
		addr, err = u.addrOf(ctx, s)
		if err != nil {
			stopProcess(context.WithoutCancel(ctx), s.ServerProc, 10*time.Second)
			return nil, err
		}
	}
	s.Addr = addr
	_, err = gate{URL: s.URL(), Version: version, PID: s.PID, Nonce: nonce, N: u.p.HealthChecks,
		Timeout: u.p.HealthTimeout.D(), Exited: s.exited}.wait(ctx)
	if err != nil {
		stopProcess(context.WithoutCancel(ctx), s.ServerProc, 10*time.Second)
		return nil, fmt.Errorf("%w; its log: %s%s", err, u.p.ServeLog, logTail(u.p.ServeLog))
	}
	return s, nil
}

// addrOf waits until the control socket is answered by s and returns the
// address it serves on.
func (u *upgrade) addrOf(ctx context.Context, s *started) (string, error) {
	ctl := handoff.NewControlClient(u.p.DataDir)
	deadline := time.Now().Add(u.p.HealthTimeout.D())
	for {
		st, err := ctl.Status(ctx)
		if err == nil && st.PID == s.PID {
			return st.Addr, nil
		}
		select {
		case <-s.exited:
			return "", fmt.Errorf("%w: it exited (%v); its log: %s%s", errNotHealthy, s.err, u.p.ServeLog, logTail(u.p.ServeLog))
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%w within %s: it never answered on the control socket; its log: %s%s", errNotHealthy, u.p.HealthTimeout.D(), u.p.ServeLog, logTail(u.p.ServeLog))
		}
	}
}

// logTail returns the last lines of a log file for an error message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return "; last lines:\n    " + strings.Join(lines, "\n    ")
}

// findByNonce lists the live processes whose environment holds nonce: the
// servers this upgrade started, found again after a crash.
func findByNonce(nonce string) []ServerProc {
	if nonce == "" {
		return nil
	}
	ids, _ := proc.FindByEnv(envHealthNonce + "=" + nonce) // none found without procfs
	return serverProcs(ids, ServerProc{Nonce: nonce})
}

// checkPointOfNoReturn marks the journal when the live database can no
// longer be used by ten From.
func (u *upgrade) checkPointOfNoReturn(ctx context.Context) {
	need, st, err := u.needsDBRestore(ctx)
	if err != nil {
		u.log.Warn("could not inspect the live database", "err", err)
		return
	}
	if need {
		if err := u.j.MarkPointOfNoReturn(context.WithoutCancel(ctx), u.id); err != nil {
			u.log.Warn("could not mark the point of no return", "err", err)
		}
		u.note("point of no return: the database is at schema %d (floor %d), past ten %s; a rollback restores the backup", st.Version, st.Floor, u.p.From)
	}
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

// --- helpers shared by the strategies

// waitOldGone waits for the old server to exit after a handoff or SIGTERM.
func (u *upgrade) waitOldGone(ctx context.Context, p ServerProc) error {
	if waitExit(ctx, p, u.p.DrainTimeout.D()+10*time.Second) {
		return nil
	}
	return fmt.Errorf("pid %d is still running %s after it was told to drain", p.PID, u.p.DrainTimeout.D()+10*time.Second)
}
