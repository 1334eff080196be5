// Command ten-bench measures what an upgrade does to traffic: real ten
// binaries at two versions, real tenants, a real Caddy and nginx, and a
// constant-rate open-loop load (half keep-alive, half fresh connections,
// every request's latency recorded with the time it was due). It is not
// part of a release.
//
//	ten-bench [-runs 3] [-rate 200] [-out DIR]   the upgrade benchmark (make bench)
//	ten-bench soak [-n 50]                       upgrade/rollback cycles (make soak)
//
// The benchmark runs, on fresh installations of ten 1.0.0 with three
// tenants: a baseline (no upgrade; direct, through Caddy, through nginx),
// `ten-upgrade run` with the handoff, proxy (Caddy, nginx) and restart
// strategies, the manual procedure (cmd/ten-bench/manual-upgrade.sh) as the
// reference to beat, and `ten-upgrade rollback` after the handoff upgrade.
// It prints a table, writes results.json and upgrade.png into -out, and
// exits 1 when handoff, proxy or rollback dropped a request or failed.
package main

import (
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenement/ten/internal/loadgen"
)

//go:embed manual-upgrade.sh
var manualScript []byte

type config struct {
	runs     int
	rate     float64
	lead     time.Duration // load before the command
	tail     time.Duration // load after it
	baseline time.Duration
	out      string
	work     string
	keep     bool
	only     map[string]bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "soak" {
		os.Exit(soakMain(os.Args[2:]))
	}
	var c config
	var only string
	short := flag.Bool("short", false, "one quick run (CI): -runs 1 -baseline 3s -lead 1s -tail 1s")
	flag.IntVar(&c.runs, "runs", 3, "how many times to run every scenario (medians are reported)")
	flag.Float64Var(&c.rate, "rate", 200, "requests per second (open loop)")
	flag.DurationVar(&c.lead, "lead", 2*time.Second, "load before each upgrade command")
	flag.DurationVar(&c.tail, "tail", 2*time.Second, "load after each upgrade command")
	flag.DurationVar(&c.baseline, "baseline", 6*time.Second, "length of each baseline")
	flag.StringVar(&c.out, "out", "bin/bench", "directory for results.json and upgrade.png")
	flag.StringVar(&c.work, "work", "", "work directory (default: a new temporary directory, removed afterwards)")
	flag.BoolVar(&c.keep, "keep", false, "keep the work directory (logs of every server and proxy)")
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run (baseline, handoff, proxy-caddy, proxy-nginx, restart, manual); rollback follows handoff")
	flag.Parse()
	if *short {
		c.runs, c.baseline, c.lead, c.tail = 1, 3*time.Second, time.Second, time.Second
	}
	if only != "" {
		c.only = map[string]bool{}
		for _, s := range strings.Split(only, ",") {
			c.only[strings.TrimSpace(s)] = true
		}
	}
	if err := benchMain(c); err != nil {
		fmt.Fprintln(os.Stderr, "ten-bench:", err)
		os.Exit(1)
	}
}

func setup(work string) (string, *bins, func(), error) {
	var err error
	if work == "" {
		work, err = os.MkdirTemp("", "ten-bench-")
	} else {
		work, _ = filepath.Abs(work)
		err = os.MkdirAll(work, 0o755)
	}
	if err != nil {
		return "", nil, nil, err
	}
	fmt.Printf("==> building ten %s, ten %s (expand migration), ten-upgrade and the tenant into %s\n", fromVersion, toVersion, work)
	b, err := buildBins(filepath.Join(work, "bin"))
	if err != nil {
		return "", nil, nil, err
	}
	return work, b, func() { os.RemoveAll(work) }, nil
}

func benchMain(c config) error {
	began := time.Now()
	work, b, cleanup, err := setup(c.work)
	if err != nil {
		return err
	}
	if !c.keep {
		defer cleanup()
	}
	var runs [][]*row
	for i := 1; i <= c.runs; i++ {
		fmt.Printf("\n==> run %d of %d\n", i, c.runs)
		rows := runAll(c, b, filepath.Join(work, fmt.Sprintf("run%d", i)))
		printTable(os.Stdout, fmt.Sprintf("run %d", i), rows)
		runs = append(runs, rows)
	}
	sum := summarize(runs)
	if c.runs > 1 {
		printSummary(os.Stdout, sum, c.runs)
	}
	goals := judge(sum)
	fmt.Println("\nGoals (on the medians):")
	for _, g := range goals {
		fmt.Println("  " + g.String())
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	doc := resultsDoc{
		Machine:  machine(),
		Date:     time.Now().UTC().Format(time.RFC3339),
		Settings: settings{Runs: c.runs, RatePerS: c.rate, LeadS: c.lead.Seconds(), TailS: c.tail.Seconds(), BaselineS: c.baseline.Seconds(), FreshConnections: "every 2nd request", Versions: fromVersion + " -> " + toVersion},
		Summary:  sum,
		Goals:    goals,
		Runs:     runs,
	}
	js, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(filepath.Join(c.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	png := filepath.Join(c.out, "upgrade.png")
	if err := plotRun(png, runs[len(runs)-1], c.rate); err != nil {
		fmt.Fprintln(os.Stderr, "ten-bench: plot:", err)
	}
	fmt.Printf("\nwrote %s and %s (%s in all)\n", filepath.Join(c.out, "results.json"), png, time.Since(began).Round(time.Second))

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
	if len(bad) > 0 {
		fmt.Fprintln(os.Stderr, "\nFAILED:")
		for _, l := range bad {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
		return errGate
	}
	return nil
}

// row is one scenario of one run.
type row struct {
	Scenario    string         `json:"scenario"`
	Path        string         `json:"path"` // where the load went: direct (ten's port), caddy, nginx
	MustNotFail bool           `json:"must_not_fail"`
	Result      string         `json:"result,omitempty"` // of ten-upgrade
	Sent        int            `json:"sent"`
	Failed      int            `json:"failed"`
	ByKind      map[string]int `json:"failed_by_kind"`
	FirstErrors []string       `json:"first_errors,omitempty"`
	// The window: from the command's start to 500ms after its end (the
	// whole load for a baseline).
	WindowS      float64 `json:"window_s"`
	WindowSent   int     `json:"window_sent"`
	WindowFailed int     `json:"window_failed"`
	P50MS        float64 `json:"p50_ms"`
	P99MS        float64 `json:"p99_ms"`
	MaxMS        float64 `json:"max_ms"`
	// The switch alone: ten-upgrade's switch step (the manual procedure:
	// from caddy reload to its end), plus 500ms.
	SwitchS      float64 `json:"switch_window_s,omitempty"`
	SwitchSent   int     `json:"switch_window_sent,omitempty"`
	SwitchP50MS  float64 `json:"switch_p50_ms,omitempty"`
	SwitchP99MS  float64 `json:"switch_p99_ms,omitempty"`
	SwitchMaxMS  float64 `json:"switch_max_ms,omitempty"`
	SwitchVsBase float64 `json:"switch_p99_vs_baseline,omitempty"`
	BaseP50MS    float64 `json:"baseline_p50_ms,omitempty"`
	BaseP99MS    float64 `json:"baseline_p99_ms,omitempty"`
	BaseMaxMS    float64 `json:"baseline_max_ms,omitempty"`
	P99VsBase    float64 `json:"p99_vs_baseline,omitempty"`
	// Times of the command: as seen from outside, as ten-upgrade
	// reports it, without its fetch and watch steps, and its switch step.
	WallMS     float64  `json:"wall_ms,omitempty"`
	ReportedMS float64  `json:"reported_ms,omitempty"`
	CoreMS     float64  `json:"wall_excl_fetch_watch_ms,omitempty"`
	SwitchMS   float64  `json:"switch_ms,omitempty"`
	DowntimeMS *float64 `json:"downtime_ms,omitempty"`
	// Tenants whose pid changed.
	TenantRestarts int                `json:"tenant_restarts"`
	VsManual       map[string]float64 `json:"vs_manual,omitempty"`
	Error          string             `json:"error,omitempty"`

	samples []point
	marks   []mark
}

type point struct {
	t, ms  float64
	failed bool
}

type mark struct {
	t     float64
	label string
}

func runAll(c config, b *bins, dir string) []*row {
	want := func(n string) bool { return c.only == nil || c.only[n] }
	var rows []*row
	add := func(rs ...*row) {
		for _, r := range rs {
			status := "ok"
			if r.Error != "" {
				status = "ERROR: " + r.Error
			}
			fmt.Printf("    %-16s %6d sent, %3d failed, window p99 %7.2fms, wall %7.0fms  %s\n", r.Scenario, r.Sent, r.Failed, r.P99MS, r.WallMS, firstLine(status))
		}
		rows = append(rows, rs...)
	}
	if want("baseline") {
		for _, p := range []string{"direct", "caddy", "nginx"} {
			add(scenario(c, b, dir, "baseline-"+p, p, "")...)
		}
	}
	if want("handoff") {
		add(scenario(c, b, dir, "handoff", "direct", "handoff")...)
	}
	if want("proxy-caddy") {
		add(scenario(c, b, dir, "proxy-caddy", "caddy", "proxy")...)
	}
	if want("proxy-nginx") {
		add(scenario(c, b, dir, "proxy-nginx", "nginx", "proxy")...)
	}
	if want("restart") {
		add(scenario(c, b, dir, "restart", "direct", "restart")...)
	}
	if want("manual") {
		add(scenario(c, b, dir, "manual", "caddy", "manual")...)
	}
	// Compare with the baseline of the same path and the manual reference.
	base := map[string]*row{}
	var manual *row
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
	return rows
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// scenario runs one scenario on a fresh installation: kind "" is a
// baseline, "manual" the manual procedure, else a ten-upgrade strategy
// (handoff is followed by a rollback, measured as its own row).
func scenario(c config, b *bins, parent, name, path, kind string) []*row {
	r := &row{Scenario: name, Path: path, ByKind: map[string]int{}}
	r.MustNotFail = kind == "handoff" || kind == "proxy"
	rows := []*row{r}
	fail := func(err error) []*row {
		r.Error = err.Error()
		return rows
	}
	s, err := newSite(b, filepath.Join(parent, name))
	if err != nil {
		return fail(err)
	}
	defer func() {
		s.close()
		if !c.keep {
			os.RemoveAll(s.dir)
		}
	}()
	if err := s.start(); err != nil {
		return fail(err)
	}
	target := s.url
	var fr *front
	switch path {
	case "caddy":
		fr, err = s.startCaddy(kind == "manual")
	case "nginx":
		fr, err = s.startNginx()
	}
	if err != nil {
		return fail(err)
	}
	if fr != nil {
		target = fr.url
	}
	before, err := s.waitTenants(target, 10*time.Second)
	if err != nil {
		return fail(err)
	}

	stop := loadgen.StartOpen(t0ctx(), loadgen.OpenOptions{URLs: []string{target}, Host: loadHost, Rate: c.rate})
	t0 := time.Now()
	if kind == "" {
		time.Sleep(c.baseline)
		res := stop()
		// The first half second warms connections up; leave it out.
		fill(r, res, t0, t0.Add(500*time.Millisecond), time.Now())
		return rows
	}
	time.Sleep(c.lead)
	var (
		start  time.Time
		took   time.Duration
		rep    *upgradeReport
		cmdErr error
	)
	if kind == "manual" {
		start, took, r.marks, cmdErr = s.manual(fr, t0)
	} else {
		args := append([]string{"run", "--binary", b.tenNew, "--yes", "--watch", "0s", "--strategy", kind}, frontArgs(fr)...)
		rep, start, took, cmdErr = s.tenUpgrade(args...)
		r.marks = stepMarks(rep, t0, start, took)
	}
	time.Sleep(c.tail)
	res := stop()
	fill(r, res, t0, start, start.Add(took+500*time.Millisecond))
	if from, to, ok := switchWindow(rep, r.marks, t0); ok {
		fillSwitch(r, res, from, to)
	}
	timing(r, rep, took)
	if cmdErr != nil {
		return fail(cmdErr)
	}
	after, err := s.waitTenants(target, 10*time.Second)
	if err != nil {
		return fail(err)
	}
	r.TenantRestarts = restarts(before, after)
	if _, err := waitHealth(target, toVersion, 5*time.Second); err != nil {
		return fail(err)
	}
	if kind != "handoff" {
		return rows
	}

	// ten-upgrade rollback on the upgraded installation, under load too.
	rb := &row{Scenario: "rollback", Path: path, ByKind: map[string]int{}, MustNotFail: true}
	rows = append(rows, rb)
	stop = loadgen.StartOpen(t0ctx(), loadgen.OpenOptions{URLs: []string{target}, Host: loadHost, Rate: c.rate})
	t0 = time.Now()
	time.Sleep(c.lead)
	rep, start, took, cmdErr = s.tenUpgrade("rollback", "--yes")
	// The report's steps are the upgrade's that the rollback undid: the
	// whole command is the switch.
	rb.marks = stepMarks(nil, t0, start, took)
	time.Sleep(c.tail)
	res = stop()
	fill(rb, res, t0, start, start.Add(took+500*time.Millisecond))
	fillSwitch(rb, res, start, start.Add(took+500*time.Millisecond))
	timing(rb, nil, took)
	if rep != nil {
		rb.Result, rb.ReportedMS = rep.Result, float64(rep.DurationMS)
	}
	if cmdErr != nil {
		rb.Error = cmdErr.Error()
		return rows
	}
	back, err := s.waitTenants(target, 10*time.Second)
	if err != nil {
		rb.Error = err.Error()
		return rows
	}
	rb.TenantRestarts = restarts(after, back)
	if _, err := waitHealth(target, fromVersion, 5*time.Second); err != nil {
		rb.Error = err.Error()
	}
	return rows
}

func frontArgs(f *front) []string {
	if f == nil {
		return nil
	}
	return f.args
}

// manual runs the manual procedure against the site and its Caddy.
func (s *site) manual(f *front, t0 time.Time) (time.Time, time.Duration, []mark, error) {
	h, err := getHealth(s.url)
	if err != nil {
		return time.Now(), 0, nil, err
	}
	newPort, err := freePort()
	if err != nil {
		return time.Now(), 0, nil, err
	}
	script := filepath.Join(s.dir, "manual-upgrade.sh")
	if err := os.WriteFile(script, manualScript, 0o755); err != nil {
		return time.Now(), 0, nil, err
	}
	cmd := exec.Command("/bin/sh", script)
	cmd.Env = s.environ(
		"NEW="+s.b.tenNew, "CONFIG="+s.config, "OLD_PORT="+fmt.Sprint(s.port), "NEW_PORT="+fmt.Sprint(newPort),
		"OLD_PID="+fmt.Sprint(h.PID), "CADDYFILE="+f.caddyfile, "CADDY="+f.caddy, "LOG="+s.log)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	os.WriteFile(filepath.Join(s.dir, "manual-upgrade.log"), out, 0o644)
	var marks []mark
	for _, l := range strings.Split(string(out), "\n") {
		var name string
		var ns int64
		if n, _ := fmt.Sscanf(l, "STEP %s %d", &name, &ns); n == 2 {
			marks = append(marks, mark{t: time.Unix(0, ns).Sub(t0).Seconds(), label: name})
		}
	}
	if err != nil {
		return start, took, marks, fmt.Errorf("manual procedure: %v\n%s", err, tail(string(out), 2000))
	}
	return start, took, marks, nil
}

// switchWindow is when the traffic moved: ten-upgrade's switch step, or
// the manual procedure from its proxy reload to its end; plus 500ms.
func switchWindow(rep *upgradeReport, marks []mark, t0 time.Time) (time.Time, time.Time, bool) {
	if rep != nil {
		for _, st := range rep.Steps {
			if st.Name == "switch" && st.EndedAt != nil {
				return st.StartedAt, st.EndedAt.Add(500 * time.Millisecond), true
			}
		}
		return time.Time{}, time.Time{}, false
	}
	var from, to float64 = -1, -1
	for _, m := range marks {
		switch m.label {
		case "reload":
			from = m.t
		case "done":
			to = m.t
		}
	}
	if from < 0 || to < 0 {
		return time.Time{}, time.Time{}, false
	}
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	return at(from), at(to).Add(500 * time.Millisecond), true
}

func fillSwitch(r *row, res *loadgen.Result, from, to time.Time) {
	w := res.Window(from, to)
	r.SwitchS = round(to.Sub(from).Seconds(), 3)
	r.SwitchSent = w.Sent
	r.SwitchP50MS, r.SwitchP99MS, r.SwitchMaxMS = ms(w.Percentile(50)), ms(w.Percentile(99)), ms(w.Max())
}

// stepMarks marks the command's start and end and the switch step.
func stepMarks(rep *upgradeReport, t0, start time.Time, took time.Duration) []mark {
	m := []mark{{t: start.Sub(t0).Seconds(), label: "run"}}
	if rep != nil {
		for _, st := range rep.Steps {
			if st.Name == "switch" {
				m = append(m, mark{t: st.StartedAt.Sub(t0).Seconds(), label: "switch"})
				if st.EndedAt != nil {
					m = append(m, mark{t: st.EndedAt.Sub(t0).Seconds(), label: "switched"})
				}
			}
		}
	}
	return append(m, mark{t: start.Add(took).Sub(t0).Seconds(), label: "done"})
}

// fill computes the row's figures from the load: counts over the whole
// load, latencies over [from, to).
func fill(r *row, res *loadgen.Result, t0, from, to time.Time) {
	r.Sent, r.Failed, r.ByKind, r.FirstErrors = res.Sent, res.Failed, res.ByKind, res.FirstErrors
	w := res.Window(from, to)
	r.WindowS = round(to.Sub(from).Seconds(), 3)
	r.WindowSent, r.WindowFailed = w.Sent, w.Failed
	r.P50MS, r.P99MS, r.MaxMS = ms(w.Percentile(50)), ms(w.Percentile(99)), ms(w.Max())
	for _, s := range res.Samples {
		r.samples = append(r.samples, point{t: s.At.Sub(t0).Seconds(), ms: float64(s.Latency.Microseconds()) / 1000, failed: s.Err != ""})
	}
}

func timing(r *row, rep *upgradeReport, took time.Duration) {
	r.WallMS = ms(took)
	if rep == nil {
		return
	}
	r.Result = rep.Result
	r.ReportedMS = float64(rep.DurationMS)
	r.SwitchMS = round(rep.stepMS("switch"), 1)
	if rep.DurationMS > 0 {
		r.CoreMS = round(float64(rep.DurationMS)-rep.stepMS("fetch")-rep.stepMS("watch"), 1)
	}
	if rep.DowntimeMS != nil {
		d := float64(*rep.DowntimeMS)
		r.DowntimeMS = &d
	}
}

func restarts(before, after map[string]int) int {
	n := 0
	for id, pid := range before {
		if after[id] != pid {
			n++
		}
	}
	return n
}

func ms(d time.Duration) float64 { return round(float64(d.Microseconds())/1000, 2) }

func round(x float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	if x < 0 {
		return -float64(int64(-x*p+0.5)) / p
	}
	return float64(int64(x*p+0.5)) / p
}

// --- summary over runs ---

func metrics(r *row) map[string]float64 {
	m := map[string]float64{"sent": float64(r.Sent), "failed": float64(r.Failed), "p50_ms": r.P50MS, "p99_ms": r.P99MS, "max_ms": r.MaxMS,
		"tenant_restarts": float64(r.TenantRestarts)}
	set := func(k string, v float64) {
		if v != 0 {
			m[k] = v
		}
	}
	set("p99_vs_baseline", r.P99VsBase)
	set("switch_p50_ms", r.SwitchP50MS)
	set("switch_p99_ms", r.SwitchP99MS)
	set("switch_max_ms", r.SwitchMaxMS)
	set("switch_p99_vs_baseline", r.SwitchVsBase)
	set("wall_ms", r.WallMS)
	set("wall_excl_fetch_watch_ms", r.CoreMS)
	set("switch_ms", r.SwitchMS)
	if r.DowntimeMS != nil {
		m["downtime_ms"] = *r.DowntimeMS
	}
	for k, v := range r.VsManual {
		m["vs_manual_"+k] = v
	}
	return m
}

// stat is a metric over the runs: the median and the range.
type stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

type summaryRow struct {
	Scenario string          `json:"scenario"`
	Path     string          `json:"path"`
	Runs     int             `json:"runs"`
	Errors   []string        `json:"errors,omitempty"`
	Failed   map[string]int  `json:"failed_by_kind_total"`
	Metrics  map[string]stat `json:"metrics"`
}

func summarize(runs [][]*row) []summaryRow {
	var order []string
	by := map[string][]*row{}
	for _, rows := range runs {
		for _, r := range rows {
			if by[r.Scenario] == nil {
				order = append(order, r.Scenario)
			}
			by[r.Scenario] = append(by[r.Scenario], r)
		}
	}
	var out []summaryRow
	for _, name := range order {
		rs := by[name]
		sr := summaryRow{Scenario: name, Path: rs[0].Path, Runs: len(rs), Failed: map[string]int{}, Metrics: map[string]stat{}}
		vals := map[string][]float64{}
		for _, r := range rs {
			if r.Error != "" {
				sr.Errors = append(sr.Errors, firstLine(r.Error))
			}
			for k, n := range r.ByKind {
				sr.Failed[k] += n
			}
			for k, v := range metrics(r) {
				vals[k] = append(vals[k], v)
			}
		}
		for k, v := range vals {
			sort.Float64s(v)
			med := v[len(v)/2]
			if len(v)%2 == 0 {
				med = (v[len(v)/2-1] + v[len(v)/2]) / 2
			}
			sr.Metrics[k] = stat{Median: round(med, 3), Min: v[0], Max: v[len(v)-1]}
		}
		out = append(out, sr)
	}
	return out
}

// --- goals ---

type goal struct {
	Goal     string  `json:"goal"`
	Measured float64 `json:"measured"`
	Limit    float64 `json:"limit"`
	Unit     string  `json:"unit"`
	Met      bool    `json:"met"`
	Known    bool    `json:"measured_ok"`
}

func (g goal) String() string {
	if !g.Known {
		return fmt.Sprintf("[ n/a ] %s: not measured", g.Goal)
	}
	if g.Met {
		return fmt.Sprintf("[ met ] %s: %g%s (limit %g%s)", g.Goal, g.Measured, g.Unit, g.Limit, g.Unit)
	}
	by := g.Measured - g.Limit
	pct := ""
	if g.Limit > 0 {
		pct = fmt.Sprintf(", %.0f%% over", 100*by/g.Limit)
	}
	return fmt.Sprintf("[MISSED] %s: %g%s (limit %g%s; %g%s over%s)", g.Goal, g.Measured, g.Unit, g.Limit, g.Unit, round(by, 2), g.Unit, pct)
}

func judge(sum []summaryRow) []goal {
	get := func(scen, metric string, useMax bool) (float64, bool) {
		for _, s := range sum {
			if s.Scenario == scen && len(s.Errors) == 0 {
				st, ok := s.Metrics[metric]
				if useMax {
					return st.Max, ok
				}
				return st.Median, ok
			}
		}
		return 0, false
	}
	var gs []goal
	add := func(name, scen, metric string, limit float64, unit string, useMax, strict bool) {
		v, ok := get(scen, metric, useMax)
		met := v <= limit
		if strict {
			met = v < limit
		}
		gs = append(gs, goal{Goal: name, Measured: v, Limit: limit, Unit: unit, Met: ok && met, Known: ok})
	}
	for _, s := range []string{"handoff", "proxy-caddy", "proxy-nginx", "rollback"} {
		add(s+": failed requests (worst run)", s, "failed", 0, "", true, false)
	}
	add("handoff: wall time without fetch and watch", "handoff", "wall_excl_fetch_watch_ms", 1000, "ms", false, true)
	add("proxy (Caddy): wall time without fetch and watch", "proxy-caddy", "wall_excl_fetch_watch_ms", 2000, "ms", false, true)
	add("proxy (nginx): wall time without fetch and watch", "proxy-nginx", "wall_excl_fetch_watch_ms", 2000, "ms", false, true)
	for _, s := range []string{"handoff", "proxy-caddy", "proxy-nginx", "rollback"} {
		add(s+": p99 during the switch / baseline p99", s, "switch_p99_vs_baseline", 2, "x", false, false)
	}
	add("rollback: wall time", "rollback", "wall_ms", 1000, "ms", false, true)
	return gs
}

// --- output ---

func printTable(w0 *os.File, title string, rows []*row) {
	fmt.Fprintf(w0, "\n%s (latencies in ms over the window; times in ms)\n", title)
	w := tabwriter.NewWriter(w0, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "scenario\tpath\tsent\tfailed\tby kind\tp50\tp99\tmax\tswitch p99\tswitch max\tbase p99\tswitch p99/base\twall\tw/o fetch+watch\tswitch\trestarts\tfailed/manual\tswitch p99/manual\twall/manual\t")
	for _, r := range rows {
		kinds := "-"
		if len(r.ByKind) > 0 {
			kinds = fmtKinds(r.ByKind)
		}
		if r.Error != "" {
			kinds += " ERROR"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%.2f\t%.2f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t\n",
			r.Scenario, r.Path, r.Sent, r.Failed, kinds, r.P50MS, r.P99MS, r.MaxMS, opt(r.SwitchP99MS, "%.2f"), opt(r.SwitchMaxMS, "%.1f"),
			opt(r.BaseP99MS, "%.2f"), opt(r.SwitchVsBase, "%.2fx"),
			opt(r.WallMS, "%.0f"), opt(r.CoreMS, "%.0f"), opt(r.SwitchMS, "%.0f"), r.TenantRestarts,
			optm(r.VsManual, "failed", r), optm(r.VsManual, "switch_p99", r), optm(r.VsManual, "wall", r))
	}
	w.Flush()
}

func optm(m map[string]float64, k string, r *row) string {
	if v, ok := m[k]; ok {
		return fmt.Sprintf("%.2fx", v)
	}
	if r.Scenario == "manual" {
		return "1x"
	}
	return "-"
}

func opt(v float64, f string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(f, v)
}

func fmtKinds(m map[string]int) string {
	var ks []string
	for k, n := range m {
		ks = append(ks, fmt.Sprintf("%s:%d", strings.ReplaceAll(k, " ", "_"), n))
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func printSummary(w0 *os.File, sum []summaryRow, runs int) {
	fmt.Fprintf(w0, "\nMedians over %d runs [min-max]\n", runs)
	w := tabwriter.NewWriter(w0, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "scenario\tpath\tsent\tfailed\tp50\tp99\tmax\tswitch p99\tswitch p99/base\twall\tw/o fetch+watch\tswitch\trestarts\twall/manual\t")
	for _, s := range sum {
		f := func(k, format string) string {
			st, ok := s.Metrics[k]
			if !ok {
				return "-"
			}
			if st.Min == st.Max {
				return fmt.Sprintf(format, st.Median)
			}
			return fmt.Sprintf(format+" ["+format+"-"+format+"]", st.Median, st.Min, st.Max)
		}
		name := s.Scenario
		if len(s.Errors) > 0 {
			name += " (ERRORS)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, s.Path, f("sent", "%.0f"), f("failed", "%.0f"),
			f("p50_ms", "%.2f"), f("p99_ms", "%.2f"), f("max_ms", "%.1f"), f("switch_p99_ms", "%.2f"), f("switch_p99_vs_baseline", "%.2fx"), f("wall_ms", "%.0f"),
			f("wall_excl_fetch_watch_ms", "%.0f"), f("switch_ms", "%.0f"), f("tenant_restarts", "%.0f"), f("vs_manual_wall", "%.3fx"))
	}
	w.Flush()
}

type settings struct {
	Runs             int     `json:"runs"`
	RatePerS         float64 `json:"rate_per_s"`
	LeadS            float64 `json:"lead_s"`
	TailS            float64 `json:"tail_s"`
	BaselineS        float64 `json:"baseline_s"`
	FreshConnections string  `json:"fresh_connections"`
	Versions         string  `json:"versions"`
}

type resultsDoc struct {
	Machine  map[string]string `json:"machine"`
	Date     string            `json:"date"`
	Settings settings          `json:"settings"`
	Summary  []summaryRow      `json:"summary"`
	Goals    []goal            `json:"goals"`
	Runs     [][]*row          `json:"runs"`
}

func machine() map[string]string {
	m := map[string]string{"goos": runtime.GOOS, "goarch": runtime.GOARCH, "cpus": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				m["cpu"] = strings.TrimSpace(l[strings.IndexByte(l, ':')+1:])
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m["memory"] = strings.Join(strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:], " ")
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		m["kernel"] = strings.TrimSpace(string(out))
	}
	for _, t := range []string{"caddy", "nginx"} {
		if p, err := lookTool(t); err == nil {
			if out, err := exec.Command(p, versionFlag(t)).CombinedOutput(); err == nil {
				m[t] = firstLine(strings.TrimSpace(string(out)))
			}
		}
	}
	return m
}

func versionFlag(tool string) string {
	if tool == "nginx" {
		return "-v"
	}
	return "version"
}
