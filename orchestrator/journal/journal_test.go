package journal

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t testing.TB, dir string) *Journal {
	t.Helper()
	j, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func begin(t testing.TB, j *Journal, from, to string) int64 {
	t.Helper()
	id, err := j.Begin(context.Background(), Upgrade{From: from, To: to, Strategy: "handoff"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func started(t testing.TB, j *Journal, id int64, name string, input any) int {
	t.Helper()
	seq, err := j.StepStarted(context.Background(), id, name, input)
	must(t, err)
	return seq
}

func TestOpenCreatesStateDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data", "upgrade")
	j := openTest(t, dir)

	for path, want := range map[string]os.FileMode{dir: 0o700, j.Path(): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
	for _, c := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "delete"},
		{"synchronous", "3"}, // EXTRA
		{"busy_timeout", fmt.Sprint(BusyTimeout.Milliseconds())},
		{"foreign_keys", "1"},
		{"user_version", fmt.Sprint(schemaVersion)},
		{"application_id", fmt.Sprint(applicationID)},
	} {
		var got string
		if err := j.db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}

	// Reopening keeps the data.
	id := begin(t, j, "1.0.0", "1.1.0")
	j.Close()
	j2 := openTest(t, dir)
	if _, _, err := j2.Get(ctx, id); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	tests := []struct {
		name  string
		setup string
		want  string
	}{
		{"other application", "PRAGMA application_id = 42", "not a ten-upgrade journal"},
		{"tables without version", "CREATE TABLE t (x)", "not a ten-upgrade journal"},
		{"newer schema", fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", applicationID, schemaVersion+1), "newer than this ten-upgrade"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
			must(t, err)
			_, err = db.Exec(tt.setup)
			db.Close()
			must(t, err)
			j, err := Open(context.Background(), dir)
			if err == nil {
				j.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// Processes that open a new journal at the same time all succeed: the
// schema is created once.
func TestOpenConcurrent(t *testing.T) {
	for round := range 20 {
		dir := filepath.Join(t.TempDir(), fmt.Sprint(round))
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				j, err := Open(context.Background(), dir)
				if err == nil {
					_, err = j.History(context.Background(), 1)
					j.Close()
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}

func TestBeginRefusedWhileUnsettled(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		state   string
		refused bool
		advice  []string
	}{
		{StateRunning, true, []string{"ten-upgrade rollback", "ten-upgrade run --resume"}},
		{StateInterrupted, true, []string{"ten-upgrade rollback", "ten-upgrade run --resume"}},
		{StateFailed, true, []string{"ten-upgrade rollback"}},
		{StateCommitted, false, nil},
		{StateRolledBack, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			j := openTest(t, t.TempDir())
			id := begin(t, j, "1.0.0", "1.1.0")
			if tt.state != StateRunning {
				must(t, j.Finish(ctx, id, tt.state, "", nil))
			}
			id2, err := j.Begin(ctx, Upgrade{From: "1.0.0", To: "1.2.0"})
			if !tt.refused {
				if err != nil {
					t.Fatalf("Begin after %s: %v", tt.state, err)
				}
				if id2 <= id {
					t.Errorf("new id %d not after %d", id2, id)
				}
				return
			}
			if !errors.Is(err, ErrUnfinished) {
				t.Fatalf("Begin after %s: err = %v, want ErrUnfinished", tt.state, err)
			}
			var ue *UnfinishedError
			if !errors.As(err, &ue) || ue.ID != id || ue.State != tt.state {
				t.Errorf("error %#v, want id %d state %s", err, id, tt.state)
			}
			for _, s := range append(tt.advice, fmt.Sprintf("upgrade %d ", id)) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			// The schema enforces it too.
			_, err = j.db.ExecContext(ctx, `INSERT INTO upgrades (state, started_at) VALUES ('running', 'x')`)
			if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
				t.Errorf("second unsettled row: err = %v, want a UNIQUE violation", err)
			}
		})
	}
}

func TestBeginRecordsUpgrade(t *testing.T) {
	ctx := context.Background()
	j := openTest(t, t.TempDir())
	start := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	params := json.RawMessage(`{"installed":"/usr/local/bin/ten","nonce":"n1"}`)
	id, err := j.Begin(ctx, Upgrade{From: "1.0.0", To: "1.1.0", Strategy: "proxy", StartedAt: start, Params: params, State: "committed"})
	must(t, err)
	u, steps, err := j.Get(ctx, id)
	must(t, err)
	want := Upgrade{ID: id, From: "1.0.0", To: "1.1.0", Strategy: "proxy", State: StateRunning, StartedAt: start, Params: params}
	if fmt.Sprint(u) != fmt.Sprint(want) {
		t.Errorf("Get = %+v\nwant %+v", u, want)
	}
	if len(steps) != 0 {
		t.Errorf("steps = %v", steps)
	}
	if _, err := j.Begin(ctx, Upgrade{Params: json.RawMessage("{")}); err == nil {
		t.Error("Begin accepted invalid JSON params")
	}
}

func TestStepsRecord(t *testing.T) {
	ctx := context.Background()
	j := openTest(t, t.TempDir())
	id := begin(t, j, "1.0.0", "1.1.0")

	s1 := started(t, j, id, "fetch", map[string]string{"url": "u"})
	must(t, j.StepDone(ctx, id, s1, map[string]string{"sha256": "abc"}))
	s2 := started(t, j, id, "check", nil)
	must(t, j.StepFailed(ctx, id, s2, errors.New("config invalid")))
	must(t, j.UndoStarted(ctx, id, s2))
	must(t, j.UndoDone(ctx, id, s2))
	must(t, j.UndoStarted(ctx, id, s1))
	must(t, j.UndoFailed(ctx, id, s1, errors.New("busy")))
	s3 := started(t, j, id, "raw", json.RawMessage(`[1,2]`))

	u, steps, err := j.Unfinished(ctx)
	must(t, err)
	if u == nil || u.ID != id {
		t.Fatalf("Unfinished = %+v", u)
	}
	type row struct {
		Seq                           int
		Name, State, In, Out, Err, UE string
		Attempts                      int
		Ended                         bool
	}
	var got []row
	for _, s := range steps {
		got = append(got, row{s.Seq, s.Name, s.State, string(s.Input), string(s.Output), s.Error, s.UndoError, s.Attempts, !s.EndedAt.IsZero()})
		if s.StartedAt.IsZero() || s.UpgradeID != id {
			t.Errorf("step %d: %+v", s.Seq, s)
		}
	}
	want := []row{
		{s1, "fetch", StepUndoFailed, `{"url":"u"}`, `{"sha256":"abc"}`, "", "busy", 1, true},
		{s2, "check", StepUndone, "", "", "config invalid", "", 1, true},
		{s3, "raw", StepStarted, "[1,2]", "", "", "", 1, false},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("steps:\n got %v\nwant %v", got, want)
	}
	if s1 != 1 || s2 != 2 || s3 != 3 {
		t.Errorf("seqs %d %d %d, want 1 2 3", s1, s2, s3)
	}

	must(t, j.StepRestarted(ctx, id, s3))
	_, steps, err = j.Get(ctx, id)
	must(t, err)
	if s := steps[2]; s.State != StepStarted || s.Attempts != 2 {
		t.Errorf("after restart: %+v", s)
	}
}

// Transitions that the runner never makes are refused, with an error that
// says why.
func TestStepTransitionsRefused(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup []string // operations applied to step 1 first
		op    string
		want  string
	}{
		{"done twice", []string{"done"}, "done", "step is done, want started"},
		{"failed after done", []string{"done"}, "failed", "step is done, want started"},
		{"undo done before undo started", nil, "undone", "step is started, want undoing"},
		{"undo failed before undo started", []string{"done"}, "undo_failed", "want undoing"},
		{"undo an undone step", []string{"done", "undo", "undone"}, "undo", "step is undone"},
		{"restart a done step", []string{"done"}, "restart", "want started"},
		{"unknown step", nil, "done9", "no such step"},
		{"step of a committed upgrade", []string{"done", "commit"}, "start", "is committed, not running"},
		{"undo in a committed upgrade", []string{"done", "commit"}, "undo", "is committed, not running"},
		{"mark a rolled back upgrade", []string{"done", "undo", "undone", "rollback"}, "mark", "is rolled_back, not running"},
		{"finish twice", []string{"done", "commit"}, "commit", "already committed"},
		{"finish with a bad state", nil, "finish-bogus", "invalid state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := openTest(t, t.TempDir())
			id := begin(t, j, "1", "2")
			started(t, j, id, "a", nil)
			apply := func(op string) error {
				switch op {
				case "done":
					return j.StepDone(ctx, id, 1, nil)
				case "done9":
					return j.StepDone(ctx, id, 9, nil)
				case "failed":
					return j.StepFailed(ctx, id, 1, errors.New("x"))
				case "undo":
					return j.UndoStarted(ctx, id, 1)
				case "undone":
					return j.UndoDone(ctx, id, 1)
				case "undo_failed":
					return j.UndoFailed(ctx, id, 1, errors.New("x"))
				case "restart":
					return j.StepRestarted(ctx, id, 1)
				case "start":
					_, err := j.StepStarted(ctx, id, "b", nil)
					return err
				case "mark":
					return j.MarkPointOfNoReturn(ctx, id)
				case "commit":
					return j.Finish(ctx, id, StateCommitted, "", nil)
				case "rollback":
					return j.Finish(ctx, id, StateRolledBack, "", nil)
				case "finish-bogus":
					return j.Finish(ctx, id, "done", "", nil)
				}
				t.Fatalf("unknown op %s", op)
				return nil
			}
			for _, op := range tt.setup {
				must(t, apply(op))
			}
			err := apply(tt.op)
			if err == nil {
				t.Fatalf("%s succeeded", tt.op)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestFinish(t *testing.T) {
	ctx := context.Background()
	j := openTest(t, t.TempDir())
	n := func(v int) *int { return &v }

	id := begin(t, j, "1.0.0", "1.1.0")
	must(t, j.MarkPointOfNoReturn(ctx, id))
	must(t, j.Finish(ctx, id, StateFailed, "step switch failed", n(3)))
	u, _, err := j.Unfinished(ctx)
	must(t, err)
	if u == nil || u.ID != id || u.State != StateFailed || !u.PointOfNoReturn || u.Error != "step switch failed" || *u.FailedRequests != 3 || u.EndedAt.IsZero() {
		t.Fatalf("after failed: %+v", u)
	}

	// A rollback that finishes later keeps the cause and the count.
	must(t, j.Reopen(ctx, id))
	if u, _, _ := j.Get(ctx, id); u.State != StateRunning || !u.EndedAt.IsZero() {
		t.Fatalf("after Reopen: %+v", u)
	}
	must(t, j.Finish(ctx, id, StateRolledBack, "", nil))
	u2, _, err := j.Get(ctx, id)
	must(t, err)
	if u2.State != StateRolledBack || u2.Error != "step switch failed" || u2.FailedRequests == nil || *u2.FailedRequests != 3 {
		t.Errorf("after rolled_back: %+v", u2)
	}
	if u, _, err := j.Unfinished(ctx); err != nil || u != nil {
		t.Errorf("Unfinished after rolled back = %v, %v", u, err)
	}

	// Committing clears an error recorded by an interruption.
	id2 := begin(t, j, "1.0.0", "1.1.0")
	must(t, j.Finish(ctx, id2, StateInterrupted, "killed", nil))
	must(t, j.Reopen(ctx, id2))
	must(t, j.Finish(ctx, id2, StateCommitted, "", n(0)))
	u3, _, err := j.Get(ctx, id2)
	must(t, err)
	if u3.State != StateCommitted || u3.Error != "" || *u3.FailedRequests != 0 {
		t.Errorf("after commit: %+v", u3)
	}

	// Reopen refuses while another upgrade is unsettled.
	id3 := begin(t, j, "1.1.0", "1.2.0")
	if err := j.Reopen(ctx, id2); !errors.Is(err, ErrUnfinished) {
		t.Errorf("Reopen with %d unsettled: %v", id3, err)
	}
	if err := j.Reopen(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Reopen(999) = %v", err)
	}
}

func TestHistoryAndLast(t *testing.T) {
	ctx := context.Background()
	j := openTest(t, t.TempDir())
	if h, err := j.History(ctx, 10); err != nil || len(h) != 0 {
		t.Fatalf("empty History = %v, %v", h, err)
	}
	if u, _, err := j.Last(ctx, StateCommitted); err != nil || u != nil {
		t.Fatalf("empty Last = %v, %v", u, err)
	}
	outcomes := []string{StateCommitted, StateRolledBack, StateCommitted, StateRolledBack, StateCommitted}
	var ids []int64
	for i, state := range outcomes {
		id := begin(t, j, fmt.Sprintf("1.%d.0", i), fmt.Sprintf("1.%d.0", i+1))
		seq := started(t, j, id, "only", nil)
		must(t, j.StepDone(ctx, id, seq, i))
		must(t, j.Finish(ctx, id, state, "", nil))
		ids = append(ids, id)
	}
	running := begin(t, j, "1.5.0", "1.6.0")

	h, err := j.History(ctx, 0)
	must(t, err)
	var got []int64
	for _, u := range h {
		got = append(got, u.ID)
	}
	want := []int64{running, ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("History ids = %v, want newest first %v", got, want)
	}
	h, err = j.History(ctx, 2)
	must(t, err)
	if len(h) != 2 || h[0].ID != running || h[1].ID != ids[4] {
		t.Errorf("History(2) = %+v", h)
	}

	for _, tt := range []struct {
		state string
		want  int64
	}{
		{StateCommitted, ids[4]},
		{StateRolledBack, ids[3]},
		{StateRunning, running},
		{"", running},
	} {
		u, steps, err := j.Last(ctx, tt.state)
		must(t, err)
		if u == nil || u.ID != tt.want {
			t.Errorf("Last(%q) = %+v, want id %d", tt.state, u, tt.want)
			continue
		}
		if tt.state == StateCommitted && (len(steps) != 1 || string(steps[0].Output) != "4") {
			t.Errorf("Last(committed) steps = %+v", steps)
		}
	}
	if u, _, err := j.Last(ctx, StateFailed); err != nil || u != nil {
		t.Errorf("Last(failed) = %+v, %v", u, err)
	}
	if _, _, err := j.Get(ctx, 12345); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(12345) = %v, want ErrNotFound", err)
	}
}

func TestLockInProcess(t *testing.T) {
	j := openTest(t, t.TempDir())
	if _, held, err := j.Holder(); err != nil || held {
		t.Fatalf("Holder before any lock = %v, %v", held, err)
	}
	unlock, err := j.Lock()
	must(t, err)
	b, err := os.ReadFile(filepath.Join(j.Dir(), LockFileName))
	must(t, err)
	if got, want := string(b), fmt.Sprintf("%d ", os.Getpid()); !strings.HasPrefix(got, want) {
		t.Errorf("lock file holds %q, want %q and the time", got, want)
	}

	// A second Lock opens the file anew, so it conflicts like another
	// process would.
	_, err = j.Lock()
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second Lock = %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	if pid, held, err := j.Holder(); err != nil || !held || pid != os.Getpid() {
		t.Errorf("Holder while locked = %d, %v, %v", pid, held, err)
	}

	must(t, unlock())
	must(t, unlock()) // idempotent
	if b, _ := os.ReadFile(filepath.Join(j.Dir(), LockFileName)); len(b) != 0 {
		t.Errorf("lock file after unlock holds %q", b)
	}
	if _, held, err := j.Holder(); err != nil || held {
		t.Errorf("Holder after unlock = %v, %v", held, err)
	}
	unlock2, err := j.Lock()
	must(t, err)
	must(t, unlock2())
}
