// Command ten-bench measures what an upgrade does to traffic: real ten
// binaries at two versions, real tenants, a real Caddy and nginx, and a
// constant-rate open-loop load. It is not part of a release.
//
//	ten-bench [-runs 3] [-rate 200] [-out DIR]   the upgrade benchmark (make bench)
//	ten-bench soak [-n 50]                       upgrade/rollback cycles (make soak)
//	ten-bench demo [-strategy auto] [-watch 5s]  one upgrade under load, shown (make demo)
//
// The benchmark runs, on fresh installations of ten 1.0.0 with three
// tenants: a baseline (no upgrade; direct, through Caddy, through nginx),
// `ten-upgrade run` with the handoff, proxy (Caddy, nginx) and restart
// strategies, the manual procedure (internal/bench/manual-upgrade.sh) as
// the reference to beat, and `ten-upgrade rollback` after the handoff
// upgrade. It prints a table, writes results.json and upgrade.png into
// -out, and exits 1 when handoff, proxy or rollback dropped a request or
// failed. The soak exits 1 when it found a failed request, a leak or a
// damaged database. Both stop, and stop what they started, on SIGINT or
// SIGTERM. internal/bench does the work; docs/BENCHMARKS.md describes it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tenement/ten/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[0], os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, name string, args []string) int {
	if len(args) > 0 && args[0] == "demo" {
		o, err := demoOptions(args[1:], os.Stderr)
		if err != nil {
			return parseFailed(err)
		}
		o.Stdout = os.Stdout
		if err := bench.Demo(ctx, o); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			return 1
		}
		return 0
	}
	if len(args) > 0 && args[0] == "soak" {
		o, err := soakOptions(args[1:], os.Stderr)
		if err != nil {
			return parseFailed(err)
		}
		o.Stdout = os.Stdout
		if _, err := bench.Soak(ctx, o); err != nil {
			fmt.Fprintln(os.Stderr, "ten-bench soak:", err)
			return 1
		}
		return 0
	}
	o, err := benchOptions(name, args, os.Stderr)
	if err != nil {
		return parseFailed(err)
	}
	o.Stdout, o.Stderr = os.Stdout, os.Stderr
	if _, err := bench.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "ten-bench:", err)
		return 1
	}
	return 0
}

// parseFailed is the exit status of a command line that did not parse, as
// flag.ExitOnError has it (the flag package has printed why): 0 for -h.
func parseFailed(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func benchOptions(name string, args []string, stderr io.Writer) (bench.Options, error) {
	var o bench.Options
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := fs.Bool("short", false, "one quick run (CI): -runs 1 -baseline 3s -lead 1s -tail 1s")
	fs.IntVar(&o.Runs, "runs", 3, "how many times to run every scenario (medians are reported)")
	fs.Float64Var(&o.Rate, "rate", 200, "requests per second (open loop)")
	fs.DurationVar(&o.Lead, "lead", 2*time.Second, "load before each upgrade command")
	fs.DurationVar(&o.Tail, "tail", 2*time.Second, "load after each upgrade command")
	fs.DurationVar(&o.Baseline, "baseline", 6*time.Second, "length of each baseline")
	fs.StringVar(&o.Out, "out", "bin/bench", "directory for results.json and upgrade.png")
	fs.StringVar(&o.Work, "work", "", "where to make the run's work directory, a new ten-bench-* directory removed afterwards unless -keep (default: the system temporary directory)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the work directory (logs of every server and proxy)")
	only := fs.String("only", "", "comma-separated scenarios to run (baseline, handoff, proxy-caddy, proxy-nginx, restart, manual); rollback follows handoff")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *short {
		o.Runs, o.Baseline, o.Lead, o.Tail = 1, 3*time.Second, time.Second, time.Second
	}
	if *only != "" {
		for _, s := range strings.Split(*only, ",") {
			o.Only = append(o.Only, strings.TrimSpace(s))
		}
	}
	return o, nil
}

func soakOptions(args []string, stderr io.Writer) (bench.SoakOptions, error) {
	var o bench.SoakOptions
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.N, "n", 50, "upgrade/rollback cycles")
	fs.Float64Var(&o.Rate, "rate", 100, "requests per second (open loop)")
	fs.StringVar(&o.Out, "out", "bin/bench", "directory for soak.json")
	fs.StringVar(&o.Work, "work", "", "where to make the run's work directory, a new ten-bench-* directory removed afterwards unless -keep (default: the system temporary directory)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the work directory")
	return o, fs.Parse(args)
}

func demoOptions(args []string, stderr io.Writer) (bench.DemoOptions, error) {
	var o bench.DemoOptions
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Dir, "dir", ".demo", "work directory (one an earlier demo made is emptied first; any other existing one is refused)")
	fs.StringVar(&o.Strategy, "strategy", "auto", "ten-upgrade run --strategy")
	fs.StringVar(&o.Watch, "watch", "5s", "ten-upgrade run --watch")
	return o, fs.Parse(args)
}
