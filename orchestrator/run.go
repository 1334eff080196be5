package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tenement/ten/orchestrator/journal"
)

// RunSchema identifies the JSON shape of a RunReport (run, resume and
// rollback). New fields may appear at any time.
const RunSchema = "ten-upgrade.run/v1"

// Results of a run, resume or rollback, and their exit codes.
const (
	ResultCommitted  = "committed"   // 0: the new version is in place
	ResultDryRun     = "dry_run"     // 0: the plan was printed, nothing changed
	ResultUpToDate   = "up_to_date"  // 0: the candidate is the installed version
	ResultRolledBack = "rolled_back" // 1 after a failure (0 for a rollback on request): the old version is back
	ResultRefused    = "refused"     // 2: nothing was changed, see error
	ResultFailed     = "failed"      // 3: the rollback did not complete: see `ten-upgrade status`
)

// RunOptions configure Run. The install and the candidate are found
// as for Check.
type RunOptions struct {
	Check CheckOptions

	// Strategy is auto, handoff, proxy or restart; "" means [upgrade]
	// strategy.
	Strategy string
	// Proxy configures the proxy strategy; an empty Driver means
	// [upgrade] proxy.
	Proxy ProxyParams
	// StateDir holds the journal, backups and logs; "" means [upgrade]
	// state_dir, else {data_dir}/upgrade.
	StateDir string

	HealthTimeout time.Duration // 0: [upgrade] health_timeout
	HealthChecks  int           // consecutive healthy answers; default 3
	Watch         time.Duration // watch window; default 30s, negative for none
	MaxErrorRate  float64       // 5xx share that fails the watch; default 0.01
	DrainTimeout  time.Duration // how long an old server may take to drain; default 30s
	KeepBackups   int           // database backups kept; 0: [upgrade] keep_backups

	DryRun bool
	Resume bool

	// Confirm is shown the plan and says whether to go on; nil means yes.
	Confirm func(planText string) bool
	// Out receives progress lines; nil for none.
	Out    io.Writer
	Logger *slog.Logger
}

// RunReport is the outcome of `ten-upgrade run`, `run --resume` and
// `rollback`. docs/json-output.md documents the JSON form.
type RunReport struct {
	Schema   string `json:"schema"`
	Command  string `json:"command"` // run, resume or rollback
	Result   string `json:"result"`
	ExitCode int    `json:"exit_code"`

	ID         int64     `json:"id,omitempty"`
	From       string    `json:"from,omitempty"`
	To         string    `json:"to,omitempty"`
	Strategy   string    `json:"strategy,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS int64     `json:"duration_ms"`
	// DowntimeMS is the restart strategy's measured downtime.
	DowntimeMS *int64 `json:"downtime_ms,omitempty"`
	// ProbeRequests and ProbeFailed are ten-upgrade's own availability
	// probe during a run: GET /health every 20ms where clients reach ten.
	ProbeRequests int `json:"probe_requests"`
	ProbeFailed   int `json:"probe_failed"`

	// FailedStep and Error say what failed; Undone what the rollback
	// undid, in order.
	FailedStep      string   `json:"failed_step,omitempty"`
	Error           string   `json:"error,omitempty"`
	Undone          []string `json:"undone"`
	PointOfNoReturn bool     `json:"point_of_no_return"`
	Notes           []string `json:"notes"`

	// Server is the server running now, after the command; ServerError
	// why it could not be found.
	Server      *RunningServer `json:"server"`
	ServerError string         `json:"server_error,omitempty"`

	Plan  []PlanStep   `json:"plan,omitempty"`
	Check *CheckReport `json:"check,omitempty"`
	Steps []StepInfo   `json:"steps"`
}

// StepInfo is one journaled step.
type StepInfo struct {
	Seq       int             `json:"seq"`
	Name      string          `json:"name"`
	State     string          `json:"state"`
	Attempts  int             `json:"attempts"`
	Output    json.RawMessage `json:"output,omitempty"`
	Error     string          `json:"error,omitempty"`
	UndoError string          `json:"undo_error,omitempty"`
	StartedAt time.Time       `json:"started_at"`
	EndedAt   *time.Time      `json:"ended_at"`
}

func stepInfos(steps []journal.Step) []StepInfo {
	out := make([]StepInfo, 0, len(steps))
	for _, s := range steps {
		si := StepInfo{Seq: s.Seq, Name: s.Name, State: s.State, Attempts: s.Attempts, Output: s.Output,
			Error: s.Error, UndoError: s.UndoError, StartedAt: s.StartedAt}
		if !s.EndedAt.IsZero() {
			t := s.EndedAt
			si.EndedAt = &t
		}
		out = append(out, si)
	}
	return out
}

// Run upgrades the running server (or, with Resume, finishes the
// unfinished upgrade). It never returns an error: every outcome, refusals
// included, is a report.
func Run(ctx context.Context, opts RunOptions) *RunReport {
	rep := &RunReport{Schema: RunSchema, Command: "run", StartedAt: time.Now().UTC(), Undone: []string{}, Notes: []string{}, Steps: []StepInfo{}}
	if opts.Resume {
		rep.Command = "resume"
	}
	defer func() { rep.DurationMS = time.Since(rep.StartedAt).Milliseconds() }()

	in, err := findInstall(opts.Check, opts.StateDir)
	if err != nil {
		return rep.refuse(err)
	}
	if !opts.Resume {
		// A resume goes on with the strategy the upgrade was begun with.
		if err := in.checkStrategy(opts.Strategy); err != nil {
			return rep.refuse(err)
		}
	}
	opts.defaults(in.cfg)

	if opts.DryRun && !fileExists(filepath.Join(in.stateDir, journal.FileName)) {
		// Nothing to look at, and a dry run creates nothing.
		return runFresh(ctx, rep, opts, in, nil, nil)
	}
	// The installation is locked first, before anything is created: another
	// state directory has another journal lock, but the same data
	// directory.
	locks := &installLocks{}
	defer locks.release()
	if !opts.DryRun {
		if err := locks.dataDir(in.dataDir); err != nil {
			return rep.refuse(err)
		}
	}
	j, err := journal.Open(ctx, in.stateDir)
	if err != nil {
		return rep.refuse(err)
	}
	defer j.Close()
	if opts.DryRun {
		if u, _, err := j.Unfinished(ctx); err == nil && u != nil {
			return rep.refuse(&journal.UnfinishedError{ID: u.ID, From: u.From, To: u.To, State: u.State})
		}
		return runFresh(ctx, rep, opts, in, nil, nil)
	}
	unlock, err := j.Lock()
	if err != nil {
		return rep.refuse(err)
	}
	defer unlock()
	if opts.Resume {
		return resume(ctx, rep, opts, j, locks)
	}
	if u, _, err := j.Unfinished(ctx); err != nil {
		return rep.refuse(err)
	} else if u != nil {
		return rep.refuse(&journal.UnfinishedError{ID: u.ID, From: u.From, To: u.To, State: u.State})
	}
	return runFresh(ctx, rep, opts, in, j, locks)
}

func (rep *RunReport) refuse(err error) *RunReport {
	rep.Result, rep.ExitCode, rep.Error = ResultRefused, 2, err.Error()
	return rep
}

// runFresh checks the candidate, plans and (unless a dry run) runs a new
// upgrade. j and locks are nil for a dry run.
func runFresh(ctx context.Context, rep *RunReport, opts RunOptions, in *install, j *journal.Journal, locks *installLocks) *RunReport {
	old, err := Discover(ctx, in.dataDir)
	if errors.Is(err, ErrNoServer) {
		if s, serr := strategyNamed(opts.Strategy); serr != nil || s.usable(nil, opts.Proxy.Driver) != nil {
			return rep.refuse(fmt.Errorf("%w: start ten serve first, or pass --strategy restart to install the new version and start it (there is nothing running to keep serving)", err))
		}
		old = nil
	} else if err != nil {
		return rep.refuse(err)
	}

	chk := checkCandidate(ctx, opts, in, old)
	rep.Check = chk
	// The kept candidate goes unless the upgrade is journaled, which takes
	// it over.
	journaled := false
	defer func() {
		if !journaled && chk.Candidate != nil && chk.Candidate.Kept != "" {
			os.Remove(chk.Candidate.Kept)
		}
	}()
	if chk.Installed != nil {
		rep.From = chk.Installed.Version
	}
	if chk.Candidate != nil {
		rep.To = chk.Candidate.Version
	}
	if chk.UpToDate {
		rep.Result, rep.ExitCode, rep.Server = ResultUpToDate, 0, old
		return rep
	}
	if chk.Verdict != VerdictSafe {
		return rep.refuse(fmt.Errorf("the candidate did not pass the checks (%s): %v", chk.Verdict, chk.failures()))
	}
	// The installed binary is known once checked: lock it before anything
	// is planned on it.
	if locks != nil {
		if err := locks.binary(chk.Installed.Path); err != nil {
			return rep.refuse(err)
		}
	}
	overlap := chk.OverlapPossible != nil && *chk.OverlapPossible
	s, err := chooseStrategy(opts.Strategy, old, opts.Proxy.Driver, overlap)
	if err != nil {
		return rep.refuse(err)
	}
	rep.Strategy = s.name()
	p, err := newParams(opts, in, chk, old, s)
	if err != nil {
		return rep.refuse(err)
	}
	u := &upgrade{p: p, s: s, log: opts.Logger, out: opts.Out}
	rep.Plan = u.plan()
	if opts.DryRun {
		rep.Result, rep.ExitCode, rep.Server = ResultDryRun, 0, old
		return rep
	}
	if opts.Confirm != nil {
		var b strings.Builder
		writePlan(&b, p, rep.Plan)
		if !opts.Confirm(b.String()) {
			return rep.refuse(errors.New("not confirmed: nothing was changed"))
		}
	}
	if err := u.begin(ctx, j); err != nil {
		return rep.refuse(err)
	}
	journaled = true
	rep.ID = u.id
	u.say("Upgrade %d: ten %s -> %s, strategy %s", u.id, p.From, p.To, p.Strategy)
	if url := s.probeURL(p); url != "" {
		u.avail = startProbe(url)
	}
	return u.finish(ctx, rep, u.r.Run(ctx, u.actions()))
}

// begin records the upgrade in the journal, with the params another
// ten-upgrade process needs to resume or roll it back.
func (u *upgrade) begin(ctx context.Context, j *journal.Journal) error {
	params, err := json.Marshal(u.p)
	if err != nil {
		return err
	}
	id, err := j.Begin(ctx, journal.Upgrade{From: u.p.From, To: u.p.To, Strategy: u.p.Strategy, Params: params})
	if err != nil {
		return err
	}
	u.j, u.id, u.r = j, id, &journal.Runner{J: j, ID: id, Log: u.log}
	return nil
}

// checkCandidate runs the pre-flight check of a new upgrade: the installed
// binary is the running server's unless the config names it, and the
// verified candidate is kept under the state directory for the run.
func checkCandidate(ctx context.Context, opts RunOptions, in *install, old *RunningServer) *CheckReport {
	co := opts.Check
	co.Logger = opts.Logger
	if co.Installed == "" && in.cfg.Upgrade.BinaryPath == "" && old != nil && old.Executable != "" {
		co.Installed = old.Executable
	}
	if !opts.DryRun {
		co.KeepCandidate = filepath.Join(in.stateDir, "candidates")
	}
	if opts.Out != nil {
		fmt.Fprintln(opts.Out, "Checking the candidate...")
	}
	return Check(ctx, co)
}

// finish records the outcome of Run or Resume and completes the report.
func (u *upgrade) finish(ctx context.Context, rep *RunReport, err error) *RunReport {
	jctx := context.WithoutCancel(ctx)
	var failedReqs *int
	if u.avail != nil {
		sent, failed := u.avail.stop()
		rep.ProbeRequests, rep.ProbeFailed = sent, failed
		failedReqs = &failed
	}
	var re *journal.RunError
	switch {
	case err == nil:
		if ferr := u.j.Finish(jctx, u.id, journal.StateCommitted, "", failedReqs); ferr != nil {
			rep.Result, rep.ExitCode, rep.Error = ResultFailed, 3, ferr.Error()
		} else {
			rep.Result, rep.ExitCode = ResultCommitted, 0
			faultPoint("after", "finish")
		}
	case errors.As(err, &re):
		rep.FailedStep, rep.Error = re.Step, re.Err.Error()
		rep.Undone = append(rep.Undone, re.Undone...)
		if re.RolledBack() {
			rep.Result, rep.ExitCode = ResultRolledBack, 1
			if ferr := u.j.Finish(jctx, u.id, journal.StateRolledBack, re.Err.Error(), failedReqs); ferr != nil {
				rep.Result, rep.ExitCode, rep.Error = ResultFailed, 3, rep.Error+"; "+ferr.Error()
			}
		} else {
			rep.Result, rep.ExitCode = ResultFailed, 3
			rep.Error += "; rollback incomplete: " + re.Rollback.Error()
			u.j.Finish(jctx, u.id, journal.StateFailed, re.Error(), failedReqs)
		}
	default:
		rep.Result, rep.ExitCode, rep.Error = ResultFailed, 3, err.Error()
		u.j.Finish(jctx, u.id, journal.StateFailed, err.Error(), nil)
	}
	u.complete(jctx, rep)
	return rep
}

// complete fills the report from the journal and the running system.
func (u *upgrade) complete(ctx context.Context, rep *RunReport) {
	if ju, steps, err := u.j.Get(ctx, u.id); err == nil {
		rep.Steps = stepInfos(steps)
		rep.PointOfNoReturn = ju.PointOfNoReturn
		var so switchOut
		if u.output(StepSwitch, &so) && so.DowntimeMS > 0 {
			d := so.DowntimeMS
			rep.DowntimeMS = &d
		}
	}
	u.mu.Lock()
	rep.Notes = append(rep.Notes, u.notes...)
	u.mu.Unlock()
	if s, err := Discover(ctx, u.p.DataDir); err == nil {
		rep.Server = s
	} else {
		rep.ServerError = err.Error()
	}
}
