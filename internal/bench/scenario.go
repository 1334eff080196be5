package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tenement/ten/internal/loadgen"
	"github.com/tenement/ten/internal/site"
)

// scenarioSpec is one scenario of a run. kind "" is a baseline, "manual"
// the manual procedure, else a ten-upgrade strategy.
type scenarioSpec struct {
	only string // the name Options.Only selects it by
	name string
	path string // where the load goes: direct (ten's port), caddy, nginx
	kind string
}

// scenarios in the order they run: the baselines first, so that every
// upgrade compares with the baseline of its path; the manual procedure
// last, the reference the others are divided by.
var scenarios = []scenarioSpec{
	{"baseline", "baseline-direct", "direct", ""},
	{"baseline", "baseline-caddy", "caddy", ""},
	{"baseline", "baseline-nginx", "nginx", ""},
	{"handoff", "handoff", "direct", "handoff"},
	{"proxy-caddy", "proxy-caddy", "caddy", "proxy"},
	{"proxy-nginx", "proxy-nginx", "nginx", "proxy"},
	{"restart", "restart", "direct", "restart"},
	{"manual", "manual", "caddy", "manual"},
}

// runAll runs the selected scenarios into dir, each on a fresh
// installation, and compares them with the baselines and the manual
// procedure. It stops early when ctx ends.
func runAll(ctx context.Context, o Options, b *bins, dir string) []*Row {
	var rows []*Row
	for _, sc := range scenarios {
		if len(o.Only) > 0 && !slices.Contains(o.Only, sc.only) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		rs := scenario(ctx, o, b, dir, sc)
		for _, r := range rs {
			status := "ok"
			if r.Error != "" {
				status = "ERROR: " + r.Error
			}
			fmt.Fprintf(o.Stdout, "    %-16s %6d sent, %3d failed, window p99 %7.2fms, wall %7.0fms  %s\n", r.Scenario, r.Sent, r.Failed, r.P99MS, r.WallMS, firstLine(status))
		}
		rows = append(rows, rs...)
	}
	compare(rows)
	return rows
}

// compare fills in each row's figures relative to the baseline of its
// path and to the manual procedure of the same run.
func compare(rows []*Row) {
	base := map[string]*Row{}
	var manual *Row
	for _, r := range rows {
		if strings.HasPrefix(r.Scenario, "baseline-") {
			base[r.Path] = r
		}
		if r.Scenario == "manual" && r.Error == "" {
			manual = r
		}
	}
	for _, r := range rows {
		if bl := base[r.Path]; bl != nil && bl != r {
			r.BaseP50MS, r.BaseP99MS, r.BaseMaxMS = bl.P50MS, bl.P99MS, bl.MaxMS
			if bl.P99MS > 0 {
				r.P99VsBase = round(r.P99MS/bl.P99MS, 2)
				r.SwitchVsBase = round(r.SwitchP99MS/bl.P99MS, 2)
			}
		}
		if manual != nil && r != manual && !strings.HasPrefix(r.Scenario, "baseline-") {
			r.VsManual = map[string]float64{}
			ratio := func(k string, a, m float64) {
				if m > 0 {
					r.VsManual[k] = round(a/m, 3)
				}
			}
			ratio("failed", float64(r.Failed), float64(manual.Failed))
			ratio("p50", r.P50MS, manual.P50MS)
			ratio("p99", r.P99MS, manual.P99MS)
			ratio("switch_p99", r.SwitchP99MS, manual.SwitchP99MS)
			ratio("max", r.MaxMS, manual.MaxMS)
			ratio("wall", r.WallMS, manual.WallMS)
		}
	}
}

// scenario runs one scenario on a fresh installation under parent. The
// handoff is followed by a rollback, measured as its own row.
func scenario(ctx context.Context, o Options, b *bins, parent string, sc scenarioSpec) []*Row {
	r := &Row{Scenario: sc.name, Path: sc.path, ByKind: map[string]int{}}
	r.MustNotFail = sc.kind == "handoff" || sc.kind == "proxy"
	rows := []*Row{r}
	fail := func(err error) []*Row {
		r.Error = err.Error()
		return rows
	}
	s, err := newSite(ctx, b, filepath.Join(parent, sc.name))
	if err != nil {
		return fail(err)
	}
	defer func() {
		s.Close()
		if !o.Keep {
			os.RemoveAll(s.Dir)
		}
	}()
	if err := s.Start(ctx); err != nil {
		return fail(err)
	}
	target := s.URL
	var fr *site.Front
	switch sc.path {
	case "caddy":
		fr, err = s.StartCaddy(ctx, site.CaddyOptions{File: sc.kind == "manual"})
	case "nginx":
		fr, err = s.StartNginx(ctx)
	}
	if err != nil {
		return fail(err)
	}
	if fr != nil {
		target = fr.URL
	}
	before, err := s.WaitTenants(ctx, target, 10*time.Second)
	if err != nil {
		return fail(err)
	}

	stop := loadgen.StartOpen(ctx, loadgen.OpenOptions{URLs: []string{target}, Host: site.LoadHost, Rate: o.Rate})
	t0 := time.Now()
	if sc.kind == "" {
		err := sleep(ctx, o.Baseline)
		res := stop()
		if err != nil {
			return fail(err)
		}
		// The first half second warms connections up; leave it out.
		fill(r, res, t0, t0.Add(500*time.Millisecond), time.Now())
		return rows
	}
	if err := sleep(ctx, o.Lead); err != nil {
		stop()
		return fail(err)
	}
	var (
		start  time.Time
		took   time.Duration
		rep    *upgradeReport
		cmdErr error
	)
	if sc.kind == "manual" {
		start, took, r.marks, cmdErr = manual(ctx, s, b.tenNew, fr, t0)
	} else {
		args := append([]string{"run", "--binary", b.tenNew, "--yes", "--watch", "0s", "--strategy", sc.kind}, frontArgs(fr)...)
		rep, start, took, cmdErr = tenUpgrade(ctx, s, args...)
		r.marks = stepMarks(rep, t0, start, took)
	}
	err = sleep(ctx, o.Tail)
	res := stop()
	if err != nil {
		return fail(err)
	}
	fill(r, res, t0, start, start.Add(took+500*time.Millisecond))
	if from, to, ok := switchWindow(rep, r.marks, t0); ok {
		fillSwitch(r, res, from, to)
	}
	timing(r, rep, took)
	if cmdErr != nil {
		return fail(cmdErr)
	}
	after, err := s.WaitTenants(ctx, target, 10*time.Second)
	if err != nil {
		return fail(err)
	}
	r.TenantRestarts = restarts(before, after)
	if _, err := site.WaitHealth(ctx, target, toVersion, 5*time.Second); err != nil {
		return fail(err)
	}
	if sc.kind != "handoff" {
		return rows
	}
	return append(rows, rollback(ctx, o, s, sc.path, target, after))
}

// rollback measures `ten-upgrade rollback` on the site just upgraded,
// under load too; after are the tenants' pids before it.
func rollback(ctx context.Context, o Options, s *site.Site, path, target string, after map[string]int) *Row {
	rb := &Row{Scenario: "rollback", Path: path, ByKind: map[string]int{}, MustNotFail: true}
	stop := loadgen.StartOpen(ctx, loadgen.OpenOptions{URLs: []string{target}, Host: site.LoadHost, Rate: o.Rate})
	t0 := time.Now()
	if err := sleep(ctx, o.Lead); err != nil {
		stop()
		rb.Error = err.Error()
		return rb
	}
	rep, start, took, cmdErr := tenUpgrade(ctx, s, "rollback", "--yes")
	// The report's steps are the upgrade's that the rollback undid: the
	// whole command is the switch.
	rb.marks = stepMarks(nil, t0, start, took)
	err := sleep(ctx, o.Tail)
	res := stop()
	if err != nil {
		rb.Error = err.Error()
		return rb
	}
	fill(rb, res, t0, start, start.Add(took+500*time.Millisecond))
	fillSwitch(rb, res, start, start.Add(took+500*time.Millisecond))
	timing(rb, nil, took)
	if rep != nil {
		rb.Result, rb.ReportedMS = rep.Result, float64(rep.DurationMS)
	}
	if cmdErr != nil {
		rb.Error = cmdErr.Error()
		return rb
	}
	back, err := s.WaitTenants(ctx, target, 10*time.Second)
	if err != nil {
		rb.Error = err.Error()
		return rb
	}
	rb.TenantRestarts = restarts(after, back)
	if _, err := site.WaitHealth(ctx, target, fromVersion, 5*time.Second); err != nil {
		rb.Error = err.Error()
	}
	return rb
}

func frontArgs(f *site.Front) []string {
	if f == nil {
		return nil
	}
	return f.Args
}
