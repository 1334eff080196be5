package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenement/ten/orchestrator/journal"
	"github.com/tenement/ten/orchestrator/lockfile"
)

// StatusSchema and HistorySchema identify the JSON shapes of
// `ten-upgrade status` and `history`.
const (
	StatusSchema  = "ten-upgrade.status/v1"
	HistorySchema = "ten-upgrade.history/v1"
)

// StatusOptions configure Status and History.
type StatusOptions struct {
	Check    CheckOptions // Config, DataDir, Getenv and Cwd are used
	StateDir string
	Proxy    string // the proxy driver; "" means [upgrade] proxy
	Limit    int    // History: most recent upgrades; 0 for all
}

// StatusReport is what `ten-upgrade status` shows.
type StatusReport struct {
	Schema   string `json:"schema"`
	DataDir  string `json:"data_dir"`
	StateDir string `json:"state_dir"`
	// Server is the running server; ServerError why none was found.
	Server      *RunningServer `json:"server"`
	ServerError string         `json:"server_error,omitempty"`
	// Strategies are the strategies `run --strategy auto` could pick
	// from, best first, and Strategy the one it would pick (the database
	// compatibility of a candidate can still rule handoff and proxy out).
	Strategies []string `json:"strategies"`
	Strategy   string   `json:"strategy"`
	// Lock says whether a ten-upgrade is working on this installation or
	// this state directory now, and its pid.
	Locked     bool `json:"locked"`
	LockHolder int  `json:"lock_holder,omitempty"`
	// Unfinished is the upgrade that needs a resume or a rollback, with an
	// explanation of where it stopped and what to do.
	Unfinished *UpgradeInfo `json:"unfinished"`
	Last       *UpgradeInfo `json:"last"`
}

// UpgradeInfo is one upgrade from the journal.
type UpgradeInfo struct {
	ID              int64      `json:"id"`
	From            string     `json:"from"`
	To              string     `json:"to"`
	Strategy        string     `json:"strategy"`
	State           string     `json:"state"`
	StartedAt       time.Time  `json:"started_at"`
	EndedAt         *time.Time `json:"ended_at"`
	DurationMS      *int64     `json:"duration_ms"`
	Error           string     `json:"error,omitempty"`
	FailedRequests  *int       `json:"failed_requests"`
	PointOfNoReturn bool       `json:"point_of_no_return"`
	// Explanation and Next say, for an unfinished upgrade, where it stopped
	// and which command finishes it.
	Explanation string     `json:"explanation,omitempty"`
	Next        []string   `json:"next,omitempty"`
	Steps       []StepInfo `json:"steps,omitempty"`
}

func upgradeInfo(u *journal.Upgrade, steps []journal.Step) *UpgradeInfo {
	info := &UpgradeInfo{ID: u.ID, From: u.From, To: u.To, Strategy: u.Strategy, State: u.State,
		StartedAt: u.StartedAt, Error: u.Error, FailedRequests: u.FailedRequests, PointOfNoReturn: u.PointOfNoReturn}
	if !u.EndedAt.IsZero() {
		t := u.EndedAt
		d := t.Sub(u.StartedAt).Milliseconds()
		info.EndedAt, info.DurationMS = &t, &d
	}
	if steps != nil {
		info.Steps = stepInfos(steps)
	}
	return info
}

// explain says where an unfinished upgrade stopped and what to run.
func explain(u *journal.Upgrade, steps []journal.Step, holder int, locked bool) (string, []string) {
	if locked {
		return fmt.Sprintf("ten-upgrade (pid %d) is working on it now", holder), nil
	}
	var done []string
	var at *journal.Step
	rolling := false
	for i := range steps {
		s := &steps[i]
		switch s.State {
		case journal.StepDone:
			done = append(done, s.Name)
		case journal.StepStarted:
			at = s
		default:
			rolling = true
			if at == nil || s.State != journal.StepUndone {
				at = s
			}
		}
	}
	var b strings.Builder
	switch {
	case u.State == journal.StateFailed:
		fmt.Fprintf(&b, "the upgrade failed and its rollback stopped")
		if at != nil {
			fmt.Fprintf(&b, " at step %s (%s", at.Name, at.State)
			if at.UndoError != "" {
				fmt.Fprintf(&b, ": %s", at.UndoError)
			}
			b.WriteString(")")
		}
		b.WriteString("; fix the cause, then roll back again")
		return b.String(), []string{"ten-upgrade rollback"}
	case rolling:
		fmt.Fprintf(&b, "ten-upgrade stopped while rolling back (step %s is %s)", at.Name, at.State)
		return b.String(), []string{"ten-upgrade rollback"}
	}
	fmt.Fprintf(&b, "ten-upgrade stopped (killed or crashed) ")
	if at != nil {
		fmt.Fprintf(&b, "during step %s (started %s, attempt %d; it may have had part of its effect)", at.Name, at.StartedAt.Format(time.RFC3339), at.Attempts)
	} else if len(done) > 0 {
		fmt.Fprintf(&b, "after step %s", done[len(done)-1])
	} else {
		b.WriteString("before its first step")
	}
	fmt.Fprintf(&b, "; done: %s", strings.Join(done, ", "))
	if u.PointOfNoReturn {
		b.WriteString("; past the point of no return: a rollback restores the database backup")
	}
	return b.String(), []string{"ten-upgrade rollback", "ten-upgrade run --resume"}
}

// Status reports the running server and any unfinished upgrade.
func Status(ctx context.Context, opts StatusOptions) (*StatusReport, error) {
	in, j, err := openInstall(ctx, opts.Check, opts.StateDir)
	if err != nil {
		return nil, err
	}
	rep := &StatusReport{Schema: StatusSchema, DataDir: in.dataDir, StateDir: in.stateDir, Strategies: []string{}}
	if s, err := Discover(ctx, in.dataDir); err == nil {
		rep.Server = s
	} else {
		rep.ServerError = err.Error()
	}
	proxyName := opts.Proxy
	if proxyName == "" {
		proxyName = in.cfg.Upgrade.Proxy
	}
	rep.Strategies = availableStrategies(rep.Server, proxyName)
	rep.Strategy = rep.Strategies[0]
	// A ten-upgrade with another state directory shows only in the
	// installation's lock.
	if pid, _, held, _ := lockfile.Holder(dataDirLockPath(in.dataDir)); held {
		rep.Locked, rep.LockHolder = true, pid
	}
	if j == nil {
		return rep, nil
	}
	defer j.Close()
	holder, locked, _ := j.Holder()
	if locked {
		rep.Locked, rep.LockHolder = locked, holder
	}
	if u, steps, err := j.Unfinished(ctx); err != nil {
		return nil, err
	} else if u != nil {
		rep.Unfinished = upgradeInfo(u, steps)
		rep.Unfinished.Explanation, rep.Unfinished.Next = explain(u, steps, rep.LockHolder, rep.Locked)
	}
	if u, _, err := j.Last(ctx, ""); err == nil && u != nil {
		rep.Last = upgradeInfo(u, nil)
	}
	return rep, nil
}

// WriteJSON prints the report as indented JSON.
func (r *StatusReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// WriteText prints the report for people.
func (r *StatusReport) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	if s := r.Server; s != nil {
		ew.printf("server:     ten %s, pid %d, on %s (started %s, %s)\n", s.Version, s.PID, s.Addr, s.StartedAt.Format(time.RFC3339), s.Executable)
		ew.printf("            data dir %s, schema %d, capabilities %v\n", s.DataDir, s.SchemaVersion, s.Capabilities)
	} else {
		ew.printf("server:     none running (%s)\n", r.ServerError)
	}
	ew.printf("strategy:   %s (available: %s)\n", r.Strategy, strings.Join(r.Strategies, ", "))
	ew.printf("state dir:  %s\n", r.StateDir)
	if r.Locked {
		ew.printf("lock:       held by pid %d: an upgrade or rollback is running\n", r.LockHolder)
	}
	if u := r.Unfinished; u != nil {
		ew.printf("UNFINISHED: upgrade %d, ten %s -> %s (%s), %s since %s\n", u.ID, u.From, u.To, u.Strategy, u.State, u.StartedAt.Format(time.RFC3339))
		ew.printf("            %s\n", u.Explanation)
		for _, s := range u.Steps {
			line := fmt.Sprintf("              %2d %-14s %s", s.Seq, s.Name, s.State)
			if s.Attempts > 1 {
				line += fmt.Sprintf(" (attempt %d)", s.Attempts)
			}
			if s.Error != "" {
				line += ": " + s.Error
			}
			if s.UndoError != "" {
				line += "; undo: " + s.UndoError
			}
			ew.printf("%s\n", line)
		}
		for _, n := range u.Next {
			ew.printf("            next: %s\n", n)
		}
	} else {
		ew.printf("unfinished: none\n")
	}
	if u := r.Last; u != nil && (r.Unfinished == nil || r.Unfinished.ID != u.ID) {
		ew.printf("last:       upgrade %d, ten %s -> %s (%s): %s\n", u.ID, u.From, u.To, u.Strategy, u.State)
	}
	return ew.err
}

// HistoryReport lists past upgrades.
type HistoryReport struct {
	Schema   string         `json:"schema"`
	Upgrades []*UpgradeInfo `json:"upgrades"`
}

// History lists the recorded upgrades, newest first.
func History(ctx context.Context, opts StatusOptions) (*HistoryReport, error) {
	_, j, err := openInstall(ctx, opts.Check, opts.StateDir)
	if err != nil {
		return nil, err
	}
	rep := &HistoryReport{Schema: HistorySchema, Upgrades: []*UpgradeInfo{}}
	if j == nil {
		return rep, nil
	}
	defer j.Close()
	ups, err := j.History(ctx, opts.Limit)
	if err != nil {
		return nil, err
	}
	for i := range ups {
		rep.Upgrades = append(rep.Upgrades, upgradeInfo(&ups[i], nil))
	}
	return rep, nil
}

// WriteJSON prints the report as indented JSON.
func (r *HistoryReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// WriteText prints a table: id, from, to, strategy, started, duration,
// result, failed requests.
func (r *HistoryReport) WriteText(w io.Writer) error {
	if len(r.Upgrades) == 0 {
		_, err := fmt.Fprintln(w, "no upgrades recorded")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFROM\tTO\tSTRATEGY\tSTARTED\tDURATION\tRESULT\tFAILED REQUESTS\tERROR")
	for _, u := range r.Upgrades {
		dur := "-"
		if u.DurationMS != nil {
			dur = (time.Duration(*u.DurationMS) * time.Millisecond).Round(100 * time.Millisecond).String()
		}
		failed := "unknown"
		if u.FailedRequests != nil {
			failed = fmt.Sprint(*u.FailedRequests)
		}
		errText := u.Error
		if len(errText) > 60 {
			errText = errText[:57] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.From, u.To, u.Strategy,
			u.StartedAt.Local().Format("2006-01-02 15:04:05"), dur, u.State, failed, errText)
	}
	return tw.Flush()
}

// WriteJSON prints the report as indented JSON.
func (r *RunReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// WriteText prints the outcome for people.
func (r *RunReport) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	switch r.Result {
	case ResultDryRun:
		ew.printf("Dry run: nothing was changed.\n")
		if len(r.Plan) > 0 {
			p := &Params{From: r.From, To: r.To, Strategy: r.Strategy}
			writePlan(ew, p, r.Plan)
		}
		return ew.err
	case ResultUpToDate:
		ew.printf("Nothing to do: ten %s is already installed.\n", r.From)
		return ew.err
	case ResultRefused:
		ew.printf("Refused: %s\n", r.Error)
		return ew.err
	}
	what := "Upgrade"
	if r.Command == "rollback" {
		what = "Rollback of upgrade"
	}
	ew.printf("%s %d (ten %s -> %s, %s): %s in %s\n", what, r.ID, r.From, r.To, r.Strategy, strings.ToUpper(strings.ReplaceAll(r.Result, "_", " ")),
		(time.Duration(r.DurationMS) * time.Millisecond).Round(time.Millisecond))
	if r.FailedStep != "" || r.Error != "" {
		ew.printf("  failed:  step %s: %s\n", r.FailedStep, r.Error)
	}
	if len(r.Undone) > 0 {
		ew.printf("  undone:  %s\n", strings.Join(r.Undone, ", "))
	}
	if r.DowntimeMS != nil {
		ew.printf("  downtime: %s\n", time.Duration(*r.DowntimeMS)*time.Millisecond)
	}
	if r.ProbeRequests > 0 {
		ew.printf("  probe:   %d of %d health requests failed during the run\n", r.ProbeFailed, r.ProbeRequests)
	}
	for _, n := range r.Notes {
		ew.printf("  note:    %s\n", n)
	}
	if s := r.Server; s != nil {
		ew.printf("  now:     ten %s serving on %s (pid %d)\n", s.Version, s.Addr, s.PID)
	} else {
		ew.printf("  now:     no server running (%s)\n", r.ServerError)
	}
	if r.Result == ResultFailed {
		ew.printf("  The system needs attention: see `ten-upgrade status`, fix the cause, then run `ten-upgrade rollback`.\n")
	}
	return ew.err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}
