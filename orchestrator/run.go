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

	"github.com/tenement/ten/compat"
	"github.com/tenement/ten/orchestrator/journal"
	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/store"
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

// install is what the config and flags say about the install.
type install struct {
	configPath string
	cfg        *config.Config
	dataDir    string
	stateDir   string
}

// findInstall loads the config (if any) the way ten does and works
// out the data and state directories.
func findInstall(co CheckOptions, stateDir string) (*install, error) {
	getenv := co.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	in := &install{}
	path, err := config.Discover(co.Config, getenv, co.Cwd)
	switch {
	case errors.Is(err, config.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		cfg, _, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		in.configPath, in.cfg = path, cfg
	}
	if in.cfg == nil {
		in.cfg = config.Default()
		in.cfg.Settings.DataDir = ""
	}
	in.cfg.OverrideDataDir(co.DataDir, getenv)
	in.dataDir = in.cfg.Settings.DataDir
	if in.dataDir == "" {
		return nil, errors.New("no tenement.toml found and no data directory given: pass --config FILE or --data-dir DIR")
	}
	if abs, err := filepath.Abs(in.dataDir); err == nil {
		in.dataDir = abs
		in.cfg.Settings.DataDir = abs
	}
	in.stateDir = stateDir
	if in.stateDir == "" {
		in.stateDir = in.cfg.UpgradeStateDir()
	}
	if abs, err := filepath.Abs(in.stateDir); err == nil {
		in.stateDir = abs
	}
	return in, nil
}

func (o *RunOptions) defaults(cfg *config.Config) {
	if o.Strategy == "" {
		o.Strategy = cfg.Upgrade.Strategy
	}
	if o.Strategy == "" {
		o.Strategy = config.StrategyAuto
	}
	if o.Proxy.Driver == "" {
		o.Proxy.Driver = cfg.Upgrade.Proxy
	}
	if o.Proxy.Driver == "" {
		o.Proxy.Driver = config.ProxyNone
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = time.Duration(cfg.Upgrade.HealthTimeout) * time.Second
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = 30 * time.Second
	}
	if o.HealthChecks <= 0 {
		o.HealthChecks = 3
	}
	if o.Watch == 0 {
		o.Watch = 30 * time.Second
	}
	if o.Watch < 0 {
		o.Watch = 0
	}
	if o.MaxErrorRate <= 0 {
		o.MaxErrorRate = 0.01
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.KeepBackups <= 0 {
		o.KeepBackups = cfg.Upgrade.KeepBackups
	}
	if o.KeepBackups <= 0 {
		o.KeepBackups = 3
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
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
	log := opts.Logger
	old, err := Discover(ctx, in.dataDir)
	if err != nil {
		if !errors.Is(err, ErrNoServer) {
			return rep.refuse(err)
		}
		if opts.Strategy != config.StrategyRestart {
			return rep.refuse(fmt.Errorf("%w: start ten serve first, or pass --strategy restart to install the new version and start it (there is nothing running to keep serving)", err))
		}
		old = nil
	}

	co := opts.Check
	co.Logger = log
	if co.Installed == "" && in.cfg.Upgrade.BinaryPath == "" && old != nil && old.Executable != "" {
		co.Installed = old.Executable
	}
	if !opts.DryRun {
		co.KeepCandidate = filepath.Join(in.stateDir, "candidates")
	}
	if opts.Out != nil {
		fmt.Fprintln(opts.Out, "Checking the candidate...")
	}
	chk := Check(ctx, co)
	rep.Check = chk
	dropKept := func() {
		if chk.Candidate != nil && chk.Candidate.Kept != "" {
			os.Remove(chk.Candidate.Kept)
		}
	}
	if chk.Installed != nil {
		rep.From = chk.Installed.Version
	}
	if chk.Candidate != nil {
		rep.To = chk.Candidate.Version
	}
	if chk.UpToDate {
		dropKept()
		rep.Result, rep.ExitCode = ResultUpToDate, 0
		rep.Server = old
		return rep
	}
	if chk.Verdict != VerdictSafe {
		dropKept()
		var failed []string
		for _, c := range chk.Checks {
			if c.Status == compat.StatusFail || c.Status == compat.StatusError {
				failed = append(failed, c.Check+": "+c.Message)
			}
		}
		return rep.refuse(fmt.Errorf("the candidate did not pass the checks (%s): %v", chk.Verdict, failed))
	}
	// The installed binary is known once checked: lock it before anything
	// is planned on it.
	if locks != nil {
		if err := locks.binary(chk.Installed.Path); err != nil {
			dropKept()
			return rep.refuse(err)
		}
	}
	overlap := chk.OverlapPossible != nil && *chk.OverlapPossible
	strategy, err := chooseStrategy(opts.Strategy, old, opts.Proxy.Driver, overlap)
	if err != nil {
		dropKept()
		return rep.refuse(err)
	}
	rep.Strategy = strategy

	p := &Params{
		ConfigPath: in.configPath, DataDir: in.dataDir, StateDir: in.stateDir,
		DB:        filepath.Join(in.dataDir, store.FileName),
		Installed: chk.Installed.Path, InstalledSHA256: chk.Installed.SHA256, From: chk.Installed.Version,
		To: chk.Candidate.Version, Candidate: chk.Candidate.Kept, CandidateSHA256: chk.Candidate.KeptSHA256,
		Strategy: strategy, Old: old,
		Proxy:         opts.Proxy,
		HealthTimeout: Duration(opts.HealthTimeout), HealthChecks: opts.HealthChecks,
		Watch: Duration(opts.Watch), MaxErrorRate: opts.MaxErrorRate, DrainTimeout: Duration(opts.DrainTimeout),
		KeepBackups: opts.KeepBackups, OverlapOK: overlap,
		RestoreDBNeeds: chk.RollbackNeedsDBRestore != nil && *chk.RollbackNeedsDBRestore,
		ServeLog:       filepath.Join(in.stateDir, "logs", "serve-"+time.Now().UTC().Format("20060102T150405Z")+".log"),
	}
	if old != nil {
		p.OldEnv = old.Env
	}
	if chk.Installed.Info != nil {
		p.FromSchema = chk.Installed.Info.SchemaVersion
	}
	if chk.Candidate.Info != nil {
		p.ToSchema = chk.Candidate.Info.SchemaVersion
	}
	if opts.DryRun {
		p.Candidate = "(verified candidate, kept under " + filepath.Join(in.stateDir, "candidates") + ")"
		p.CandidateSHA256 = chk.Candidate.SHA256
	}
	p.Staged = filepath.Join(filepath.Dir(p.Installed), "."+filepath.Base(p.Installed)+".new")
	if strategy == config.StrategyProxy || strategy == config.StrategyRestart {
		p.Nonce = newNonce()
	}
	if strategy == config.StrategyProxy {
		host := "127.0.0.1"
		if old != nil {
			host = hostOf(dialAddr(old.Addr))
		}
		if p.Port, err = freePort(host); err != nil {
			dropKept()
			return rep.refuse(fmt.Errorf("find a spare port for the new server: %w", err))
		}
	}
	steps := plan(p)
	rep.Plan = steps
	if opts.DryRun {
		rep.Result, rep.ExitCode = ResultDryRun, 0
		rep.Server = old
		return rep
	}
	if opts.Confirm != nil {
		var b strings.Builder
		writePlan(&b, p, steps)
		if !opts.Confirm(b.String()) {
			dropKept()
			return rep.refuse(errors.New("not confirmed: nothing was changed"))
		}
	}

	params, err := json.Marshal(p)
	if err != nil {
		dropKept()
		return rep.refuse(err)
	}
	id, err := j.Begin(ctx, journal.Upgrade{From: p.From, To: p.To, Strategy: strategy, Params: params})
	if err != nil {
		dropKept()
		return rep.refuse(err)
	}
	rep.ID = id
	u := &upgrade{p: p, j: j, id: id, log: log, out: opts.Out}
	u.r = &journal.Runner{J: j, ID: id, Log: u.log}
	u.say("Upgrade %d: ten %s -> %s, strategy %s", id, p.From, p.To, strategy)
	if url := probeURL(p); url != "" {
		u.avail = startProbe(url)
	}
	err = u.r.Run(ctx, u.actions())
	return u.finish(ctx, rep, err)
}

// probeURL is where the availability probe asks: through the proxy when
// its URL is known, else the server's own address.
func probeURL(p *Params) string {
	switch {
	case p.Strategy == config.StrategyProxy && p.Proxy.URL != "":
		return p.Proxy.URL
	case p.Strategy == config.StrategyProxy:
		return ""
	case p.Old != nil:
		return p.Old.URL()
	}
	return ""
}

func hostOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			h := addr[:i]
			if len(h) > 1 && h[0] == '[' {
				h = h[1 : len(h)-1]
			}
			return h
		}
	}
	return addr
}

// chooseStrategy applies --strategy: auto picks handoff when the running
// server can hand over its socket, else proxy when a proxy is configured.
// handoff and proxy need the old and the new server to share the
// database; restart always works, with downtime.
func chooseStrategy(want string, old *RunningServer, proxyDriver string, overlap bool) (string, error) {
	noOverlap := errors.New("the old and the new server cannot share the database (the candidate's migration leaves a schema the running version cannot use): a zero-downtime switch is impossible; use --strategy restart (the downtime is measured and reported)")
	switch want {
	case config.StrategyRestart:
		return want, nil
	case config.StrategyAuto, "":
		if old == nil {
			return "", errors.New("no running server to switch from: use --strategy restart")
		}
		if !overlap {
			return "", noOverlap
		}
		if old.HasCapability("handoff") {
			return config.StrategyHandoff, nil
		}
		if proxyDriver != "" && proxyDriver != config.ProxyNone {
			return config.StrategyProxy, nil
		}
		return "", fmt.Errorf("the running server (ten %s) cannot hand over its socket, and no proxy is configured: set proxy = \"caddy\" or \"nginx\" under [upgrade] (or pass --proxy), or use --strategy restart", old.Version)
	case config.StrategyHandoff:
		if old == nil {
			return "", errors.New("handoff needs a running server")
		}
		if !old.HasCapability("handoff") {
			return "", fmt.Errorf("the running server (ten %s) does not support handoff (capabilities %v): use --strategy proxy or restart", old.Version, old.Capabilities)
		}
		if !overlap {
			return "", noOverlap
		}
		return want, nil
	case config.StrategyProxy:
		if old == nil {
			return "", errors.New("the proxy strategy needs a running server")
		}
		if proxyDriver == "" || proxyDriver == config.ProxyNone {
			return "", errors.New("the proxy strategy needs a proxy: set proxy = \"caddy\" or \"nginx\" under [upgrade], or pass --proxy")
		}
		if !overlap {
			return "", noOverlap
		}
		return want, nil
	}
	return "", fmt.Errorf("unknown strategy %q: want auto, handoff, proxy or restart", want)
}

// resume finishes the unfinished upgrade.
func resume(ctx context.Context, rep *RunReport, opts RunOptions, j *journal.Journal, locks *installLocks) *RunReport {
	ju, steps, err := j.Unfinished(ctx)
	if err != nil {
		return rep.refuse(err)
	}
	if ju == nil {
		return rep.refuse(errors.New("there is no unfinished upgrade to resume: run ten-upgrade run without --resume to start a new one"))
	}
	u, err := loadUpgrade(j, ju, steps, opts)
	if err != nil {
		return rep.refuse(err)
	}
	rep.ID, rep.From, rep.To, rep.Strategy = ju.ID, ju.From, ju.To, ju.Strategy
	if err := u.lockInstallation(locks); err != nil {
		return rep.refuse(err)
	}
	if err := u.verifyResumable(steps); err != nil {
		return rep.refuse(err)
	}
	u.say("Resuming upgrade %d: ten %s -> %s, strategy %s", ju.ID, ju.From, ju.To, ju.Strategy)
	err = u.r.Resume(ctx, u.actions(), steps)
	if errors.Is(err, journal.ErrRollingBack) {
		return rep.refuse(err)
	}
	return u.finish(ctx, rep, err)
}

// loadUpgrade rebuilds an upgrade from its journal record.
func loadUpgrade(j *journal.Journal, ju *journal.Upgrade, steps []journal.Step, opts RunOptions) (*upgrade, error) {
	var p Params
	if err := json.Unmarshal(ju.Params, &p); err != nil {
		return nil, fmt.Errorf("upgrade %d: unreadable params: %w", ju.ID, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &upgrade{p: &p, j: j, id: ju.ID, log: log, out: opts.Out, journaled: map[string]json.RawMessage{}}
	u.r = &journal.Runner{J: j, ID: ju.ID, Log: u.log}
	for _, s := range steps {
		if s.Output != nil {
			u.journaled[s.Name] = s.Output
		}
	}
	return u, nil
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

// RollbackOptions configure Rollback.
type RollbackOptions struct {
	Check    CheckOptions // Config, DataDir, Getenv, Cwd are used
	StateDir string
	// Confirm is shown what will be undone; nil means yes.
	Confirm func(what string) bool
	Out     io.Writer
	Logger  *slog.Logger
}

// Rollback undoes the unfinished upgrade, or else the last committed one,
// returning to the version before it.
func Rollback(ctx context.Context, opts RollbackOptions) *RunReport {
	rep := &RunReport{Schema: RunSchema, Command: "rollback", StartedAt: time.Now().UTC(), Undone: []string{}, Notes: []string{}, Steps: []StepInfo{}}
	defer func() { rep.DurationMS = time.Since(rep.StartedAt).Milliseconds() }()
	in, err := findInstall(opts.Check, opts.StateDir)
	if err != nil {
		return rep.refuse(err)
	}
	if !fileExists(filepath.Join(in.stateDir, journal.FileName)) {
		return rep.refuse(fmt.Errorf("nothing to roll back to: no upgrade has been recorded in %s", in.stateDir))
	}
	j, err := journal.Open(ctx, in.stateDir)
	if err != nil {
		return rep.refuse(err)
	}
	defer j.Close()
	unlock, err := j.Lock()
	if err != nil {
		return rep.refuse(err)
	}
	defer unlock()

	ju, steps, err := j.Unfinished(ctx)
	if err != nil {
		return rep.refuse(err)
	}
	reason := ""
	if ju != nil && ju.Error == "" {
		reason = "interrupted, then rolled back on request"
	}
	if ju == nil {
		ju, steps, err = j.Last(ctx, journal.StateCommitted)
		if err != nil {
			return rep.refuse(err)
		}
		if ju == nil {
			return rep.refuse(errors.New("nothing to roll back to: no committed upgrade is recorded (upgrades that failed were rolled back already)"))
		}
		reason = "rolled back on request"
	}
	ro := RunOptions{Out: opts.Out, Logger: opts.Logger}
	u, err := loadUpgrade(j, ju, steps, ro)
	if err != nil {
		return rep.refuse(err)
	}
	rep.ID, rep.From, rep.To, rep.Strategy = ju.ID, ju.From, ju.To, ju.Strategy
	locks := &installLocks{}
	defer locks.release()
	if err := u.lockInstallation(locks); err != nil {
		return rep.refuse(err)
	}
	if ju.State == journal.StateCommitted {
		// A committed upgrade is undone only while its version is the one
		// installed: a later change would be buried.
		if !fileIs(u.p.Installed, u.p.CandidateSHA256) {
			return rep.refuse(fmt.Errorf("upgrade %d installed ten %s at %s, but that file has changed since: roll back by hand from %s.bak", ju.ID, ju.To, u.p.Installed, u.p.Installed))
		}
		if last, _, err := j.Last(ctx, ""); err == nil && last != nil && last.ID != ju.ID && last.State == journal.StateCommitted {
			return rep.refuse(fmt.Errorf("upgrade %d is not the last one: roll back the later upgrades first, newest first", ju.ID))
		}
	}
	what := fmt.Sprintf("Roll back upgrade %d (ten %s -> %s, %s, state %s): undo %s", ju.ID, ju.From, ju.To, ju.Strategy, ju.State, undoList(steps))
	if ju.PointOfNoReturn {
		what += "\nThe database will be restored from the backup taken before the upgrade: changes written since are lost."
	}
	if opts.Confirm != nil && !opts.Confirm(what) {
		return rep.refuse(errors.New("not confirmed: nothing was changed"))
	}
	u.say("%s", what)
	err = u.r.Rollback(ctx, u.actions(), steps)
	jctx := context.WithoutCancel(ctx)
	if err != nil {
		rep.Result, rep.ExitCode, rep.Error = ResultFailed, 3, err.Error()
		var rb *journal.RollbackError
		if errors.As(err, &rb) {
			rep.FailedStep = rb.Step
			rep.Undone = append(rep.Undone, rb.Undone...)
		}
		j.Finish(jctx, ju.ID, journal.StateFailed, err.Error(), nil)
	} else {
		rep.Result, rep.ExitCode = ResultRolledBack, 0
		if ferr := j.Finish(jctx, ju.ID, journal.StateRolledBack, reason, nil); ferr != nil {
			rep.Result, rep.ExitCode, rep.Error = ResultFailed, 3, ferr.Error()
		}
		for i := len(steps) - 1; i >= 0; i-- {
			if steps[i].State != journal.StepUndone {
				rep.Undone = append(rep.Undone, steps[i].Name)
			}
		}
	}
	u.complete(jctx, rep)
	return rep
}

func undoList(steps []journal.Step) string {
	var names []string
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].State != journal.StepUndone {
			names = append(names, steps[i].Name)
		}
	}
	if len(names) == 0 {
		return "nothing"
	}
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}
