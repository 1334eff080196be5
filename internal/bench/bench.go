// Package bench measures what an upgrade does to traffic: real ten
// binaries at two versions, real tenants, a real Caddy and nginx, and a
// constant-rate open-loop load (half keep-alive, half fresh connections,
// every request's latency recorded with the time it was due).
//
// Run is the upgrade benchmark (make bench). On fresh installations of ten
// 1.0.0 with three tenants it runs a baseline (no upgrade; direct, through
// Caddy, through nginx), `ten-upgrade run` with the handoff, proxy (Caddy,
// nginx) and restart strategies, the manual procedure (manual-upgrade.sh)
// as the reference to beat, and `ten-upgrade rollback` after the handoff
// upgrade. It prints a table, writes results.json and upgrade.png, and
// fails when handoff, proxy or rollback dropped a request or failed.
//
// Soak (make soak) repeats upgrade and rollback on one installation under
// load, then looks for what the cycles left behind.
//
// docs/BENCHMARKS.md describes both and their output.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Options configure Run.
type Options struct {
	// Runs is how many times every scenario runs; the summary and the
	// goals are on the medians.
	Runs int
	// Rate is the load in requests per second (open loop).
	Rate float64
	// Lead and Tail are how long the load runs before and after each
	// upgrade command; Baseline is the length of each baseline.
	Lead, Tail, Baseline time.Duration
	// Out is the directory for results.json and upgrade.png.
	Out string
	// Work is where the run's own work directory is made (a new
	// ten-bench-* directory in it); empty for the system's temporary
	// directory. The run's directory is removed afterwards unless Keep.
	Work string
	// Keep keeps the work directory: the logs of every server and proxy.
	Keep bool
	// Only selects scenarios by name (baseline, handoff, proxy-caddy,
	// proxy-nginx, restart, manual); empty runs them all. The rollback
	// follows the handoff.
	Only []string
	// Stdout gets the progress and the tables, Stderr what went wrong.
	Stdout, Stderr io.Writer
}

// errGate is Run's error when a strategy that must not drop requests
// dropped some or a command failed: make upgrade-bench doubles as a
// regression check.
var errGate = errors.New("a strategy that must not drop requests dropped some")

// Run runs the upgrade benchmark: every selected scenario o.Runs times. It
// prints a table per run, the medians and the goals to o.Stdout, and writes
// results.json and upgrade.png into o.Out. The results are returned along
// with an error when a strategy that must not drop requests dropped some
// or a command failed (listed on o.Stderr).
func Run(ctx context.Context, o Options) (*Results, error) {
	if o.Runs < 1 {
		return nil, fmt.Errorf("runs: %d, want at least 1", o.Runs)
	}
	began := time.Now()
	work, b, remove, err := setup(ctx, o.Stdout, o.Work, o.Keep)
	if err != nil {
		return nil, err
	}
	defer remove()
	var runs [][]*Row
	for i := 1; i <= o.Runs; i++ {
		fmt.Fprintf(o.Stdout, "\n==> run %d of %d\n", i, o.Runs)
		rows := runAll(ctx, o, b, filepath.Join(work, fmt.Sprintf("run%d", i)))
		if ctx.Err() != nil {
			return nil, fmt.Errorf("run %d interrupted: %w", i, context.Cause(ctx))
		}
		printTable(o.Stdout, fmt.Sprintf("run %d", i), rows)
		runs = append(runs, rows)
	}
	sum := summarize(runs)
	if o.Runs > 1 {
		printSummary(o.Stdout, sum, o.Runs)
	}
	goals := judge(sum)
	fmt.Fprintln(o.Stdout, "\nGoals (on the medians):")
	for _, g := range goals {
		fmt.Fprintln(o.Stdout, "  "+g.String())
	}
	res := &Results{
		Machine: machine(ctx),
		Date:    time.Now().UTC().Format(time.RFC3339),
		Settings: Settings{Runs: o.Runs, RatePerS: o.Rate, LeadS: o.Lead.Seconds(), TailS: o.Tail.Seconds(), BaselineS: o.Baseline.Seconds(),
			FreshConnections: "every 2nd request", Versions: fromVersion + " -> " + toVersion},
		Summary: sum,
		Goals:   goals,
		Runs:    runs,
	}
	js := filepath.Join(o.Out, "results.json")
	if err := writeJSON(js, res); err != nil {
		return res, err
	}
	png := filepath.Join(o.Out, "upgrade.png")
	if err := plotRun(png, runs[len(runs)-1], o.Rate); err != nil {
		// The numbers are written; a missing picture does not fail the run.
		fmt.Fprintln(o.Stderr, "ten-bench: plot:", err)
	}
	fmt.Fprintf(o.Stdout, "\nwrote %s and %s (%s in all)\n", js, png, time.Since(began).Round(time.Second))

	if bad := failures(runs); len(bad) > 0 {
		fmt.Fprintln(o.Stderr, "\nFAILED:")
		for _, l := range bad {
			fmt.Fprintln(o.Stderr, "  "+l)
		}
		return res, errGate
	}
	return res, nil
}

// failures lists the rows that fail the benchmark: a request dropped by a
// strategy that must not drop any, or an error in any scenario.
func failures(runs [][]*Row) []string {
	var bad []string
	for i, rows := range runs {
		for _, r := range rows {
			if r.MustNotFail && (r.Failed > 0 || r.Error != "") {
				bad = append(bad, fmt.Sprintf("run %d %s: %d/%d requests failed %v %s", i+1, r.Scenario, r.Failed, r.Sent, r.ByKind, r.Error))
			} else if r.Error != "" {
				bad = append(bad, fmt.Sprintf("run %d %s: %s", i+1, r.Scenario, r.Error))
			}
		}
	}
	return bad
}

// setup makes the work directory and builds the binaries into it; remove
// deletes the directory, unless keep asks to leave it for a look.
func setup(ctx context.Context, stdout io.Writer, work string, keep bool) (dir string, b *bins, remove func(), err error) {
	if work, err = makeWorkDir(work); err != nil {
		return "", nil, nil, err
	}
	fmt.Fprintf(stdout, "==> building ten %s, ten %s (expand migration), ten-upgrade and the tenant into %s\n", fromVersion, toVersion, work)
	b, err = buildBins(ctx, filepath.Join(work, "bin"))
	if err != nil {
		os.RemoveAll(work)
		return "", nil, nil, err
	}
	if keep {
		return work, b, func() {}, nil
	}
	return work, b, func() { os.RemoveAll(work) }, nil
}

// writeJSON writes v indented, creating the directory.
func writeJSON(file string, v any) error {
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(file), err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, append(js, '\n'), 0o644)
}

// sleep waits for d, or less if ctx ends first: an interrupted benchmark
// must stop its processes promptly, not after the load's tail.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// makeWorkDir makes a new ten-bench-* directory in parent ("" for the
// system's temporary directory). It is always a directory of our own: it
// is removed afterwards, and a mistyped -work must not wipe anything.
func makeWorkDir(parent string) (string, error) {
	if parent != "" {
		abs, err := filepath.Abs(parent)
		if err == nil {
			err = os.MkdirAll(abs, 0o755)
		}
		if err != nil {
			return "", fmt.Errorf("work directory: %w", err)
		}
		parent = abs
	}
	dir, err := os.MkdirTemp(parent, "ten-bench-")
	if err == nil {
		// Run as root, ten starts the tenants as an unprivileged user,
		// who must reach their data directories in here.
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		return "", fmt.Errorf("work directory: %w", err)
	}
	return dir, nil
}
