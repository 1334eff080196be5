package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/tenement/ten/internal/loadgen"
	"github.com/tenement/ten/internal/site"
)

// DemoOptions configure Demo.
type DemoOptions struct {
	// Dir is the work directory. A directory an earlier demo made is
	// emptied first; any other existing one is refused.
	Dir string
	// Strategy and Watch are ten-upgrade run's --strategy and --watch.
	Strategy, Watch string
	Stdout          io.Writer
}

// demoMarker names the demo's own work directories.
const demoMarker = ".ten-demo"

// Demo is `make demo`: it builds ten 1.0.0 and 1.1.0, starts 1.0.0 with
// three tenants under constant load, upgrades it with `ten-upgrade run`
// (whose output it shows), and prints the versions, the upgrade's
// duration, the failed and total requests, and the tenants' pids before
// and after. It fails when the upgrade does.
func Demo(ctx context.Context, o DemoOptions) error {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := freshDemoDir(dir); err != nil {
		return err
	}
	w := o.Stdout
	step := func(format string, args ...any) { fmt.Fprintf(w, "\n==> "+format+"\n", args...) }

	step("building ten %s, ten %s (with an expand migration), ten-upgrade and a demo tenant", fromVersion, toVersion)
	b, err := buildBins(ctx, filepath.Join(dir, "build"))
	if err != nil {
		return err
	}
	s, err := newSite(ctx, b, filepath.Join(dir, "site"))
	if err != nil {
		return err
	}
	defer s.Close()
	if s.Port, err = site.FreePort(); err != nil {
		return err
	}
	s.URL = fmt.Sprintf("http://127.0.0.1:%d", s.Port)
	step("starting ten %s on %s with three tenants", fromVersion, s.URL)
	if err := s.Start(ctx); err != nil {
		return err
	}
	before, err := s.WaitTenants(ctx, s.URL, 30*time.Second)
	if err != nil {
		return err
	}
	v0 := version(ctx, s)

	step("sending constant load to %s (6 clients, half keep-alive, half fresh connections)", site.LoadHost)
	var answered atomic.Int64
	stop := loadgen.Start(ctx, loadgen.Options{URLs: []string{s.URL}, Host: site.LoadHost, Workers: 6, Interval: 2 * time.Millisecond, Sent: &answered})
	if err := waitAnswered(ctx, &answered, 500); err != nil {
		stop()
		return err
	}

	step("ten-upgrade run --binary ten-%s --strategy %s --watch %s --yes", toVersion, o.Strategy, o.Watch)
	start := time.Now()
	up := exec.CommandContext(ctx, b.Upgrade, "--config", s.Config, "run", "--binary", b.tenNew,
		"--strategy", o.Strategy, "--watch", o.Watch, "--yes")
	up.Env = s.Environ()
	up.Stdout, up.Stderr = w, w
	upErr := up.Run()
	took := time.Since(start)
	waitErr := waitAnswered(ctx, &answered, 500)
	res := stop()
	if waitErr != nil {
		return waitErr
	}

	after, _ := s.WaitTenants(ctx, s.URL, 10*time.Second)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "=== demo result ===")
	fmt.Fprintf(w, "version:   %s -> %s\n", v0, version(ctx, s))
	fmt.Fprintf(w, "upgrade:   %s (ten-upgrade run, watch window included)\n", took.Round(time.Millisecond))
	fmt.Fprintf(w, "requests:  %d failed / %d total (p50 %s, p99 %s)\n", res.Failed, res.Sent, res.Percentile(50), res.Percentile(99))
	if res.Failed > 0 {
		fmt.Fprintf(w, "           failures: %v %v\n", res.ByKind, res.FirstErrors)
	}
	fmt.Fprintln(w, "tenants:   id      pid before  pid after")
	for _, id := range site.APITenants {
		mark := "same process"
		if before[id] != after[id] {
			mark = "RESTARTED"
		}
		fmt.Fprintf(w, "           %-9s %-10d  %-10d %s\n", id, before[id], after[id], mark)
	}
	fmt.Fprintf(w, "files:     %s (server log %s)\n", dir, s.Log)
	if upErr != nil {
		return fmt.Errorf("ten-upgrade run: %w", upErr)
	}
	return nil
}

// freshDemoDir empties dir for a new run, refusing a directory the demo
// did not make: a mistyped --dir must not wipe anything.
func freshDemoDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
			return fmt.Errorf("--dir %s exists and was not made by the demo: name a new directory, or remove it yourself", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, demoMarker), nil, 0o644)
}

// version says which ten answers at the site's address.
func version(ctx context.Context, s *site.Site) string {
	h, err := site.GetHealth(ctx, s.URL)
	if err != nil {
		return "(down)"
	}
	return fmt.Sprintf("ten %s (pid %d)", h.Version, h.PID)
}

// waitAnswered waits until n more requests of a load have been answered.
func waitAnswered(ctx context.Context, answered *atomic.Int64, n int64) error {
	target := answered.Load() + n
	deadline := time.Now().Add(30 * time.Second)
	for answered.Load() < target {
		if time.Now().After(deadline) {
			return errors.New("the load generator got no answers for 30s")
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}
