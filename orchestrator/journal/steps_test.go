package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

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
