package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// planSteps are the steps of the test plan, in order.
var planSteps = []string{"a", "b", "c", "d"}

// testPlan is a plan whose steps have visible effects: step X's Do creates
// the file X in dir (its effect), holding the path recorded as the
// previous step's output, and returns {"file": path, "prev": ...}. Its Undo
// removes the file if it is there. Both append a line to dir/log: "do X",
// and "undo X done" or "undo X nil" (whether Undo was given an output).
// The log is appended with O_APPEND, so it survives a SIGKILL and shows
// the order of the calls made by every process.
type testPlan struct {
	dir      string
	r        *Runner
	fail     string           // this step's Do fails, after creating its effect
	failUndo map[string]error // these undos fail, before removing the effect
	// stop is called at "in-do:X" (effect created, Do not returned) and
	// "in-undo:X" (effect removed, Undo not returned); nil: no-op.
	stop func(point string)
	// onDo is called at the end of a successful Do; nil: no-op.
	onDo func(step string)
}

type planOutput struct {
	File string `json:"file"`
	Prev string `json:"prev"`
}

func newPlan(t testing.TB) *testPlan {
	dir := filepath.Join(t.TempDir(), "effects")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &testPlan{dir: dir}
}

func (p *testPlan) logf(format string, args ...any) error {
	f, err := os.OpenFile(filepath.Join(p.dir, "log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, format+"\n", args...)
	return errors.Join(err, f.Close())
}

func (p *testPlan) at(point string) {
	if p.stop != nil {
		p.stop(point)
	}
}

func (p *testPlan) actions() []Action {
	var actions []Action
	for i, name := range planSteps {
		path := filepath.Join(p.dir, name)
		actions = append(actions, Action{
			Name:  name,
			Input: map[string]string{"file": path},
			Do: func(ctx context.Context) (any, error) {
				if err := p.logf("do %s", name); err != nil {
					return nil, err
				}
				var prev planOutput
				if i > 0 {
					// Earlier outputs come from the journal on resume.
					if err := p.r.Output(planSteps[i-1], &prev); err != nil {
						return nil, err
					}
					if prev.File != filepath.Join(p.dir, planSteps[i-1]) {
						return nil, fmt.Errorf("output of %s is %+v", planSteps[i-1], prev)
					}
				}
				if err := os.WriteFile(path, []byte(prev.File), 0o644); err != nil {
					return nil, err
				}
				p.at("in-do:" + name)
				if p.fail == name {
					return nil, fmt.Errorf("%s broke", name)
				}
				if p.onDo != nil {
					p.onDo(name)
				}
				return planOutput{File: path, Prev: prev.File}, nil
			},
			Undo: func(ctx context.Context, output json.RawMessage) error {
				if ctx.Err() != nil {
					return fmt.Errorf("undo %s got a cancelled context", name)
				}
				got := "nil"
				if output != nil {
					var o planOutput
					if err := json.Unmarshal(output, &o); err != nil || o.File != path {
						return fmt.Errorf("undo %s: bad output %s", name, output)
					}
					got = "done"
				}
				if err := p.logf("undo %s %s", name, got); err != nil {
					return err
				}
				if err := p.failUndo[name]; err != nil {
					return err
				}
				if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
				p.at("in-undo:" + name)
				return nil
			},
		})
	}
	return actions
}

// effects lists the steps whose effect is present.
func (p *testPlan) effects(t testing.TB) []string {
	t.Helper()
	var have []string
	for _, name := range planSteps {
		if _, err := os.Stat(filepath.Join(p.dir, name)); err == nil {
			have = append(have, name)
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	return have
}

// log returns the log lines.
func (p *testPlan) log(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// describe renders steps compactly: "a done", "b started x2".
func describe(steps []Step) []string {
	var out []string
	for _, s := range steps {
		d := s.Name + " " + s.State
		if s.Attempts != 1 {
			d += fmt.Sprintf(" x%d", s.Attempts)
		}
		out = append(out, d)
	}
	return out
}

func equal(a, b []string) bool { return slices.Equal(a, b) }
