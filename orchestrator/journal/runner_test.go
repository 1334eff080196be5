package journal

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// setup opens a journal, begins an upgrade and returns a runner over a new
// test plan.
func setup(t *testing.T) (*Journal, *Runner, *testPlan) {
	t.Helper()
	j := openTest(t, t.TempDir())
	id := begin(t, j, "1.0.0", "1.1.0")
	p := newPlan(t)
	p.r = &Runner{J: j, ID: id}
	return j, p.r, p
}

func steps(t *testing.T, j *Journal, id int64) []Step {
	t.Helper()
	_, s, err := j.Get(context.Background(), id)
	must(t, err)
	return s
}

func TestRunCommits(t *testing.T) {
	ctx := context.Background()
	j, r, p := setup(t)
	must(t, r.Run(ctx, p.actions()))

	got := steps(t, j, r.ID)
	if want := []string{"a done", "b done", "c done", "d done"}; !equal(describe(got), want) {
		t.Errorf("steps %v, want %v", describe(got), want)
	}
	for _, s := range got {
		var in map[string]string
		var out planOutput
		if err := json.Unmarshal(s.Input, &in); err != nil || in["file"] == "" {
			t.Errorf("step %s input %s", s.Name, s.Input)
		}
		if err := json.Unmarshal(s.Output, &out); err != nil || out.File != in["file"] {
			t.Errorf("step %s output %s", s.Name, s.Output)
		}
	}
	var d planOutput
	must(t, r.Output("d", &d))
	if !strings.HasSuffix(d.Prev, "/c") {
		t.Errorf("d did not get c's output: %+v", d)
	}
	if want := []string{"a", "b", "c", "d"}; !equal(p.effects(t), want) {
		t.Errorf("effects %v, want %v", p.effects(t), want)
	}
	if want := []string{"do a", "do b", "do c", "do d"}; !equal(p.log(t), want) {
		t.Errorf("log %v, want %v", p.log(t), want)
	}
	// The runner leaves the outcome to the caller.
	if u, _, _ := j.Get(ctx, r.ID); u.State != StateRunning {
		t.Errorf("upgrade state %s after Run", u.State)
	}
	if err := r.Run(ctx, p.actions()); err == nil || !strings.Contains(err.Error(), "already has 4 steps") {
		t.Errorf("second Run = %v", err)
	}
}

func TestRunFailureRollsBack(t *testing.T) {
	tests := []struct {
		fail   string
		undone []string
		log    []string
	}{
		{"a", []string{"a"}, []string{"do a", "undo a nil"}},
		{"c", []string{"c", "b", "a"}, []string{"do a", "do b", "do c", "undo c nil", "undo b done", "undo a done"}},
		{"d", []string{"d", "c", "b", "a"}, []string{"do a", "do b", "do c", "do d", "undo d nil", "undo c done", "undo b done", "undo a done"}},
	}
	for _, tt := range tests {
		t.Run(tt.fail, func(t *testing.T) {
			j, r, p := setup(t)
			p.fail = tt.fail
			err := r.Run(context.Background(), p.actions())
			var re *RunError
			if !errors.As(err, &re) {
				t.Fatalf("Run = %v, want a *RunError", err)
			}
			if re.Step != tt.fail || re.Err.Error() != tt.fail+" broke" || !re.RolledBack() || !equal(re.Undone, tt.undone) {
				t.Errorf("RunError %+v", re)
			}
			want := "step " + tt.fail + " failed: " + tt.fail + " broke; rolled back: undid " + strings.Join(tt.undone, ", ")
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q does not contain %q", err, want)
			}
			if !equal(p.log(t), tt.log) {
				t.Errorf("log %v, want %v", p.log(t), tt.log)
			}
			if len(p.effects(t)) != 0 {
				t.Errorf("effects left: %v", p.effects(t))
			}
			for _, s := range steps(t, j, r.ID) {
				if s.State != StepUndone {
					t.Errorf("step %s is %s", s.Name, s.State)
				}
				if (s.Name == tt.fail) != (s.Error != "") {
					t.Errorf("step %s error %q", s.Name, s.Error)
				}
			}
		})
	}
}

// An undo that fails stops the rollback there; a later Rollback retries it
// and finishes.
func TestRunUndoFailsThenRollback(t *testing.T) {
	ctx := context.Background()
	j, r, p := setup(t)
	p.fail = "c"
	p.failUndo = map[string]error{"b": errors.New("old server will not start")}
	err := r.Run(ctx, p.actions())
	var re *RunError
	var rbe *RollbackError
	if !errors.As(err, &re) || re.RolledBack() || !errors.As(err, &rbe) {
		t.Fatalf("Run = %v", err)
	}
	if rbe.Step != "b" || !equal(rbe.Undone, []string{"c"}) || !equal(rbe.Remaining, []string{"b", "a"}) {
		t.Errorf("RollbackError %+v", rbe)
	}
	for _, s := range []string{"step c failed: c broke", "automatic rollback incomplete (undid c)", "undo of step b failed: old server will not start", "still to undo: b, a", "ten-upgrade rollback"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q does not contain %q", err, s)
		}
	}
	u, st, err := j.Unfinished(ctx)
	must(t, err)
	if want := []string{"a done", "b undo_failed", "c undone"}; u == nil || !equal(describe(st), want) {
		t.Fatalf("journal %v, want %v", describe(st), want)
	}
	if st[1].UndoError != "old server will not start" || st[2].Error != "c broke" {
		t.Errorf("errors not recorded: %+v", st)
	}
	if want := []string{"a", "b"}; !equal(p.effects(t), want) {
		t.Errorf("effects %v, want %v", p.effects(t), want)
	}
	must(t, j.Finish(ctx, r.ID, StateFailed, re.Error(), nil))

	// Resume is refused once the rollback has begun.
	r2 := &Runner{J: j, ID: u.ID}
	p.r = r2
	if err := r2.Resume(ctx, p.actions(), st); !errors.Is(err, ErrRollingBack) {
		t.Fatalf("Resume = %v, want ErrRollingBack", err)
	}

	p.failUndo = nil
	before := len(p.log(t))
	must(t, r2.Rollback(ctx, p.actions(), st))
	if got, want := p.log(t)[before:], []string{"undo b done", "undo a done"}; !equal(got, want) {
		t.Errorf("Rollback log %v, want %v", got, want)
	}
	if want := []string{"a undone", "b undone", "c undone"}; !equal(describe(steps(t, j, r.ID)), want) {
		t.Errorf("journal %v, want %v", describe(steps(t, j, r.ID)), want)
	}
	if len(p.effects(t)) != 0 {
		t.Errorf("effects left: %v", p.effects(t))
	}
	// Rollback reopened the failed upgrade; the caller settles it.
	if u, _, _ := j.Get(ctx, r.ID); u.State != StateRunning {
		t.Errorf("state %s after Rollback", u.State)
	}
	must(t, j.Finish(ctx, r.ID, StateRolledBack, "", nil))
	if u, _, _ := j.Get(ctx, r.ID); u.Error == "" {
		t.Error("the cause of the failure was not kept")
	}
}

func TestRunCancelled(t *testing.T) {
	t.Run("during a step", func(t *testing.T) {
		j, r, p := setup(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p.fail = "c"
		p.stop = func(point string) {
			if point == "in-do:c" {
				cancel() // the interrupt arrives while c runs; c then fails
			}
		}
		err := r.Run(ctx, p.actions())
		var re *RunError
		if !errors.As(err, &re) || !re.RolledBack() || !equal(re.Undone, []string{"c", "b", "a"}) {
			t.Fatalf("Run = %v", err)
		}
		// The undos got a live context and the journal was written.
		if want := []string{"a undone", "b undone", "c undone"}; !equal(describe(steps(t, j, r.ID)), want) {
			t.Errorf("journal %v, want %v", describe(steps(t, j, r.ID)), want)
		}
	})
	t.Run("between steps", func(t *testing.T) {
		j, r, p := setup(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p.onDo = func(step string) {
			if step == "b" {
				cancel()
			}
		}
		err := r.Run(ctx, p.actions())
		var re *RunError
		if !errors.As(err, &re) || !errors.Is(err, context.Canceled) || re.Step != "" || !equal(re.Undone, []string{"b", "a"}) {
			t.Fatalf("Run = %#v", err)
		}
		if !strings.Contains(err.Error(), "stopped before step c") {
			t.Errorf("message %q", err)
		}
		if want := []string{"a undone", "b undone"}; !equal(describe(steps(t, j, r.ID)), want) {
			t.Errorf("journal %v, want %v (c never started)", describe(steps(t, j, r.ID)), want)
		}
	})
}

func TestRollbackAfterCommit(t *testing.T) {
	ctx := context.Background()
	j, r, p := setup(t)
	must(t, r.Run(ctx, p.actions()))
	must(t, j.Finish(ctx, r.ID, StateCommitted, "", nil))

	u, st, err := j.Last(ctx, StateCommitted)
	must(t, err)
	r2 := &Runner{J: j, ID: u.ID}
	p.r = r2
	p.stop = func(point string) {
		// Mid-rollback the upgrade is unsettled again, so that a crash
		// here would leave it visible to status, rollback and Begin.
		if point == "in-undo:c" {
			if u, _, err := j.Unfinished(ctx); err != nil || u == nil || u.ID != r.ID {
				t.Errorf("Unfinished during rollback = %+v, %v", u, err)
			}
		}
	}
	before := len(p.log(t))
	must(t, r2.Rollback(ctx, p.actions(), st))
	if got, want := p.log(t)[before:], []string{"undo d done", "undo c done", "undo b done", "undo a done"}; !equal(got, want) {
		t.Errorf("log %v, want %v", got, want)
	}
	must(t, j.Finish(ctx, r.ID, StateRolledBack, "rolled back on request", nil))

	// Rolling back a rolled back upgrade does nothing and leaves it settled.
	_, st, err = j.Get(ctx, r.ID)
	must(t, err)
	before = len(p.log(t))
	must(t, r2.Rollback(ctx, p.actions(), st))
	if len(p.log(t)) != before {
		t.Errorf("second rollback ran undos: %v", p.log(t)[before:])
	}
	if u, _, _ := j.Get(ctx, r.ID); u.State != StateRolledBack {
		t.Errorf("state %s", u.State)
	}
}

func TestRollbackRefusesUnknownStep(t *testing.T) {
	ctx := context.Background()
	j, r, p := setup(t)
	must(t, r.Run(ctx, p.actions()))
	st := steps(t, j, r.ID)
	before := len(p.log(t))
	err := r.Rollback(ctx, p.actions()[:3], st) // a plan without d
	if err == nil || !strings.Contains(err.Error(), `no step "d" to undo`) {
		t.Fatalf("Rollback = %v", err)
	}
	if len(p.log(t)) != before {
		t.Errorf("undos ran: %v", p.log(t)[before:])
	}
}

func TestResumeRefuses(t *testing.T) {
	ctx := context.Background()
	mk := func(specs ...string) []Step {
		var out []Step
		for i, s := range specs {
			name, state, _ := strings.Cut(s, " ")
			out = append(out, Step{UpgradeID: 1, Seq: i + 1, Name: name, State: state, Attempts: 1})
		}
		return out
	}
	tests := []struct {
		name  string
		steps []Step
		want  string
	}{
		{"another plan", mk("a done", "x done"), `journaled step 2 is "x"`},
		{"more steps than actions", mk("a done", "b done", "c done", "d done", "e started"), "has 5 steps journaled"},
		{"failed step", mk("a done", "b failed"), "being rolled back"},
		{"undoing step", mk("a done", "b undoing"), "being rolled back"},
		{"undone step", mk("a undone"), "being rolled back"},
		{"started in the middle", mk("a started", "b done"), "inconsistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, p := setup(t)
			p.r.ID = 1
			err := p.r.Resume(ctx, p.actions(), tt.steps)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Resume = %v, want %q", err, tt.want)
			}
			if len(p.log(t)) != 0 {
				t.Errorf("actions ran: %v", p.log(t))
			}
		})
	}
}

func TestCheckActions(t *testing.T) {
	do := func(context.Context) (any, error) { return nil, nil }
	tests := []struct {
		name    string
		actions []Action
		want    string
	}{
		{"no name", []Action{{Do: do}}, "action 1 has no name"},
		{"no Do", []Action{{Name: "x"}}, "action x has no Do"},
		{"duplicate", []Action{{Name: "x", Do: do}, {Name: "x", Do: do}}, "two actions are named x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r, _ := setup(t)
			for name, f := range map[string]func() error{
				"Run":      func() error { return r.Run(context.Background(), tt.actions) },
				"Resume":   func() error { return r.Resume(context.Background(), tt.actions, nil) },
				"Rollback": func() error { return r.Rollback(context.Background(), tt.actions, nil) },
			} {
				if err := f(); err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s = %v, want %q", name, err, tt.want)
				}
			}
		})
	}
}

func TestOutput(t *testing.T) {
	ctx := context.Background()
	_, r, _ := setup(t)
	actions := []Action{
		{Name: "nothing", Do: func(context.Context) (any, error) { return nil, nil }},
		{Name: "port", Do: func(context.Context) (any, error) { return 8081, nil }},
		{Name: "bad", Do: func(context.Context) (any, error) { return func() {}, nil }},
	}
	err := r.Run(ctx, actions)
	if err == nil || !strings.Contains(err.Error(), "step bad failed: encode output") {
		t.Fatalf("Run = %v", err)
	}
	var port int
	must(t, r.Output("port", &port))
	if port != 8081 {
		t.Errorf("port = %d", port)
	}
	v := 7
	must(t, r.Output("nothing", &v))
	if v != 7 {
		t.Errorf("nil output changed v to %d", v)
	}
	if err := r.Output("bad", &v); !errors.Is(err, ErrNoOutput) {
		t.Errorf("Output(bad) = %v", err)
	}
}
