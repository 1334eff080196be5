package journal

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/tenement/ten/internal/fault"
	"github.com/tenement/ten/internal/testbin"
)

// The crash tests re-run this test binary as a helper process that
// journals the test plan and stops at a chosen point: it prints "at POINT"
// and waits, and the test kills it with SIGKILL. Then the test reopens the
// journal as the next ten-upgrade would.
//
// Helper modes (see testbin.Helper): run | resume | rollback (the plan),
// lock (hold the lock), trylock (print what Lock returns). Environment:
//
//	JOURNAL_STATE   state directory
//	JOURNAL_PLAN    the plan's effects directory
//	JOURNAL_STOP    where to stop: "started:b", "done:b", "failed:c",
//	                "undoing:b", "undone:b" (journal boundaries), "in-do:b",
//	                "in-undo:b" (inside the action, effect done/removed)
//	JOURNAL_FAIL    the step whose Do fails
func TestMain(m *testing.M) { os.Exit(testbin.MainWithHelper(m, helper)) }

func helper(mode string) int {
	ctx := context.Background()
	stopAt := os.Getenv("JOURNAL_STOP")
	announce := func(what string) {
		fmt.Fprintf(os.Stdout, "at %s\n", what)
		// Wait to be killed. If the test dies first, stdin reaches EOF.
		io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}
	stop := func(point string) {
		if point == stopAt {
			announce(point)
		}
	}
	fatal := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	j, err := Open(ctx, os.Getenv("JOURNAL_STATE"))
	if err != nil {
		return fatal(err)
	}
	unlock, err := j.Lock()
	if mode == "trylock" {
		fmt.Fprintf(os.Stdout, "at %v\n", err)
		return 0
	}
	if err != nil {
		return fatal(err)
	}
	defer unlock()
	if mode == "lock" {
		announce("locked")
	}

	for _, point := range []string{"started", "done", "failed", "undoing", "undone"} {
		fault.Set("journal."+point, func(step string) { stop(point + ":" + step) })
	}
	p := &testPlan{dir: os.Getenv("JOURNAL_PLAN"), fail: os.Getenv("JOURNAL_FAIL"), stop: stop}
	var id int64
	var steps []Step
	if mode == "run" {
		id, err = j.Begin(ctx, Upgrade{From: "1.0.0", To: "1.1.0", Strategy: "handoff"})
	} else {
		var u *Upgrade
		if u, steps, err = j.Unfinished(ctx); err == nil && u == nil {
			err = errors.New("no unfinished upgrade")
		} else if u != nil {
			id = u.ID
		}
	}
	if err != nil {
		return fatal(err)
	}
	p.r = &Runner{J: j, ID: id}
	switch mode {
	case "run":
		err = p.r.Run(ctx, p.actions())
	case "resume":
		err = p.r.Resume(ctx, p.actions(), steps)
	case "rollback":
		err = p.r.Rollback(ctx, p.actions(), steps)
	default:
		return fatal(fmt.Errorf("unknown helper mode %q", mode))
	}
	// Reaching this point means the stop point was never reached.
	fmt.Fprintf(os.Stdout, "finished: %v\n", err)
	return 0
}

// child is a running helper process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
}

// startHelper starts a helper and waits until it prints its first line,
// which it returns.
func startHelper(t *testing.T, state, plan, mode, stop, fail string) (*child, string) {
	t.Helper()
	c := &child{cmd: testbin.Helper(mode, "JOURNAL_STATE="+state, "JOURNAL_PLAN="+plan,
		"JOURNAL_STOP="+stop, "JOURNAL_FAIL="+fail)}
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.stdin.Close()
		c.cmd.Process.Kill()
		c.cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
		t.Fatalf("helper %s (stop at %q) printed nothing: %v; stderr: %s", mode, stop, err, c.stderr.String())
	}
	return c, strings.TrimSuffix(line, "\n")
}

// kill sends SIGKILL and checks that it is what ended the process.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v, not SIGKILL; stderr: %s", c.cmd.ProcessState, c.stderr.String())
	}
}

// crashAt runs the plan in a helper (mode run, resume or rollback) and
// kills it with SIGKILL at stop.
func crashAt(t *testing.T, state string, p *testPlan, mode, stop, fail string) {
	t.Helper()
	c, line := startHelper(t, state, p.dir, mode, stop, fail)
	if line != "at "+stop {
		t.Fatalf("helper %s did not stop at %s: %q; stderr: %s", mode, stop, line, c.stderr.String())
	}
	c.kill(t)
}

type crash struct{ mode, stop string }

// TestCrash kills ten-upgrade's journaling at each kind of boundary, then
// checks that the journal says exactly where it stopped, and that a resume
// finishes the upgrade and a rollback undoes, in reverse order, exactly
// the steps that may have had an effect.
func TestCrash(t *testing.T) {
	tests := []struct {
		name    string
		fail    string  // step whose Do fails
		crashes []crash // processes killed one after the other
		steps   []string
		effects []string
		// resume is what `run --resume` does (log lines); nil: refused,
		// since the rollback has begun.
		resume []string
		// rollback is what `ten-upgrade rollback` does.
		rollback []string
	}{
		{
			name:     "after StepStarted",
			crashes:  []crash{{"run", "started:b"}},
			steps:    []string{"a done", "b started"},
			effects:  []string{"a"},
			resume:   []string{"undo b nil", "do b", "do c", "do d"},
			rollback: []string{"undo b nil", "undo a done"},
		},
		{
			name:     "inside Do",
			crashes:  []crash{{"run", "in-do:b"}},
			steps:    []string{"a done", "b started"},
			effects:  []string{"a", "b"},
			resume:   []string{"undo b nil", "do b", "do c", "do d"},
			rollback: []string{"undo b nil", "undo a done"},
		},
		{
			name:     "after StepDone",
			crashes:  []crash{{"run", "done:b"}},
			steps:    []string{"a done", "b done"},
			effects:  []string{"a", "b"},
			resume:   []string{"do c", "do d"},
			rollback: []string{"undo b done", "undo a done"},
		},
		{
			name:     "after the last step",
			crashes:  []crash{{"run", "done:d"}},
			steps:    []string{"a done", "b done", "c done", "d done"},
			effects:  []string{"a", "b", "c", "d"},
			resume:   []string{},
			rollback: []string{"undo d done", "undo c done", "undo b done", "undo a done"},
		},
		{
			name:     "after StepFailed",
			fail:     "c",
			crashes:  []crash{{"run", "failed:c"}},
			steps:    []string{"a done", "b done", "c failed"},
			effects:  []string{"a", "b", "c"},
			rollback: []string{"undo c nil", "undo b done", "undo a done"},
		},
		{
			name:     "after UndoStarted in the automatic rollback",
			fail:     "c",
			crashes:  []crash{{"run", "undoing:b"}},
			steps:    []string{"a done", "b undoing", "c undone"},
			effects:  []string{"a", "b"},
			rollback: []string{"undo b done", "undo a done"},
		},
		{
			name:     "inside Undo in the automatic rollback",
			fail:     "c",
			crashes:  []crash{{"run", "in-undo:b"}},
			steps:    []string{"a done", "b undoing", "c undone"},
			effects:  []string{"a"},
			rollback: []string{"undo b done", "undo a done"}, // b's undo runs again
		},
		{
			name:     "after UndoDone",
			fail:     "c",
			crashes:  []crash{{"run", "undone:b"}},
			steps:    []string{"a done", "b undone", "c undone"},
			effects:  []string{"a"},
			rollback: []string{"undo a done"},
		},
		{
			name:     "resume killed after restarting the step",
			crashes:  []crash{{"run", "started:b"}, {"resume", "started:b"}},
			steps:    []string{"a done", "b started x2"},
			effects:  []string{"a"},
			resume:   []string{"undo b nil", "do b", "do c", "do d"},
			rollback: []string{"undo b nil", "undo a done"},
		},
		{
			name:     "resume killed inside a later step",
			crashes:  []crash{{"run", "done:b"}, {"resume", "in-do:d"}},
			steps:    []string{"a done", "b done", "c done", "d started"},
			effects:  []string{"a", "b", "c", "d"},
			resume:   []string{"undo d nil", "do d"},
			rollback: []string{"undo d nil", "undo c done", "undo b done", "undo a done"},
		},
		{
			name:     "rollback killed inside Undo",
			crashes:  []crash{{"run", "done:c"}, {"rollback", "in-undo:b"}},
			steps:    []string{"a done", "b undoing", "c undone"},
			effects:  []string{"a"},
			rollback: []string{"undo b done", "undo a done"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, then := range []string{"resume", "rollback"} {
				t.Run(then, func(t *testing.T) {
					ctx := context.Background()
					state := t.TempDir()
					p := newPlan(t)
					for _, c := range tt.crashes {
						crashAt(t, state, p, c.mode, c.stop, tt.fail)
					}

					// The journal says exactly where it stopped.
					j := openTest(t, state)
					u, steps, err := j.Unfinished(ctx)
					must(t, err)
					if u == nil || u.State != StateRunning {
						t.Fatalf("Unfinished = %+v", u)
					}
					if got := describe(steps); !equal(got, tt.steps) {
						t.Fatalf("journal: %v, want %v", got, tt.steps)
					}
					for _, s := range steps {
						switch {
						case s.State == StepStarted && s.Output != nil,
							s.State == StepDone && s.Output == nil,
							s.State == StepFailed && s.Error != tt.fail+" broke":
							t.Errorf("step %+v", s)
						}
					}
					if got := p.effects(t); !equal(got, tt.effects) {
						t.Fatalf("effects %v, want %v", got, tt.effects)
					}

					// The dead process's lock is gone; a new run is refused.
					unlock, err := j.Lock()
					if err != nil {
						t.Fatalf("Lock after the holder was killed: %v", err)
					}
					defer unlock()
					if _, err := j.Begin(ctx, Upgrade{From: "1.0.0", To: "1.2.0"}); !errors.Is(err, ErrUnfinished) {
						t.Fatalf("Begin = %v, want ErrUnfinished", err)
					}

					before := len(p.log(t))
					p.r = &Runner{J: j, ID: u.ID}
					if then == "resume" {
						err := p.r.Resume(ctx, p.actions(), steps)
						if tt.resume == nil {
							if !errors.Is(err, ErrRollingBack) {
								t.Fatalf("Resume = %v, want ErrRollingBack", err)
							}
							if len(p.log(t)) != before {
								t.Errorf("refused Resume ran %v", p.log(t)[before:])
							}
							return
						}
						must(t, err)
						if got := p.log(t)[before:]; !equal(got, tt.resume) {
							t.Errorf("Resume did %v, want %v", got, tt.resume)
						}
						_, after, err := j.Get(ctx, u.ID)
						must(t, err)
						for i, s := range after {
							if s.State != StepDone || s.Name != planSteps[i] {
								t.Errorf("after Resume: %v", describe(after))
								break
							}
						}
						if len(after) != len(planSteps) {
							t.Errorf("after Resume: %v", describe(after))
						}
						if got := p.effects(t); !equal(got, planSteps) {
							t.Errorf("effects after Resume %v", got)
						}
						must(t, j.Finish(ctx, u.ID, StateCommitted, "", nil))
					} else {
						must(t, p.r.Rollback(ctx, p.actions(), steps))
						if got := p.log(t)[before:]; !equal(got, tt.rollback) {
							t.Errorf("Rollback did %v, want %v", got, tt.rollback)
						}
						_, after, err := j.Get(ctx, u.ID)
						must(t, err)
						for _, s := range after {
							if s.State != StepUndone {
								t.Errorf("after Rollback: %v", describe(after))
								break
							}
						}
						if got := p.effects(t); len(got) != 0 {
							t.Errorf("effects after Rollback %v", got)
						}
						must(t, j.Finish(ctx, u.ID, StateRolledBack, "", nil))
					}
					if u, _, err := j.Unfinished(ctx); err != nil || u != nil {
						t.Errorf("Unfinished after settling = %+v, %v", u, err)
					}
				})
			}
		})
	}
}

// A second process is refused the lock with the holder's pid, and gets it
// once the holder is killed.
func TestLockAcrossProcesses(t *testing.T) {
	state := t.TempDir()
	j := openTest(t, state)

	holder, line := startHelper(t, state, "", "lock", "", "")
	if line != "at locked" {
		t.Fatalf("helper: %q; stderr: %s", line, holder.stderr.String())
	}
	pid := holder.cmd.Process.Pid

	_, err := j.Lock()
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.PID != pid {
		t.Fatalf("Lock while pid %d holds it = %v", pid, err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("pid %d", pid)) {
		t.Errorf("message %q does not name pid %d", err, pid)
	}
	if got, held, err := j.Holder(); err != nil || !held || got != pid {
		t.Errorf("Holder = %d, %v, %v; want %d, true", got, held, err, pid)
	}

	holder.kill(t)
	if _, held, err := j.Holder(); err != nil || held {
		t.Errorf("Holder after kill = %v, %v", held, err)
	}
	unlock, err := j.Lock()
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	defer unlock()

	// And the other way round: a helper is refused while we hold it.
	_, line = startHelper(t, state, "", "trylock", "", "")
	want := fmt.Sprintf("at another ten-upgrade (pid %d, started at ", os.Getpid())
	if !strings.HasPrefix(line, want) {
		t.Errorf("helper's Lock: %q, want %q...", line, want)
	}
}
