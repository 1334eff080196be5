package bench

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/internal/site"
)

// Results is what Run measured, as it writes it to results.json
// (docs/bench/results.json is one).
type Results struct {
	Machine  map[string]string `json:"machine"`
	Date     string            `json:"date"`
	Settings Settings          `json:"settings"`
	Summary  []SummaryRow      `json:"summary"`
	Goals    []Goal            `json:"goals"`
	Runs     [][]*Row          `json:"runs"`
}

// Settings are the options the results were measured with.
type Settings struct {
	Runs             int     `json:"runs"`
	RatePerS         float64 `json:"rate_per_s"`
	LeadS            float64 `json:"lead_s"`
	TailS            float64 `json:"tail_s"`
	BaselineS        float64 `json:"baseline_s"`
	FreshConnections string  `json:"fresh_connections"`
	Versions         string  `json:"versions"`
}

// printTable prints the rows of one run.
func printTable(w0 io.Writer, title string, rows []*Row) {
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

// optm is a ratio to the manual procedure; the manual row is its own
// reference.
func optm(m map[string]float64, k string, r *Row) string {
	if v, ok := m[k]; ok {
		return fmt.Sprintf("%.2fx", v)
	}
	if r.Scenario == "manual" {
		return "1x"
	}
	return "-"
}

// opt prints a figure that is zero when it does not apply as "-".
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

// printSummary prints the medians over the runs, with the range where the
// runs differ.
func printSummary(w0 io.Writer, sum []SummaryRow, runs int) {
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

// machine describes where the results were measured: they mean little
// without it.
func machine(ctx context.Context) map[string]string {
	m := map[string]string{"goos": runtime.GOOS, "goarch": runtime.GOARCH, "cpus": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version()}
	if cpu := proc.CPUModel(); cpu != "" {
		m["cpu"] = cpu
	}
	if mem := proc.MemTotal(); mem != "" {
		m["memory"] = mem
	}
	if out, err := exec.CommandContext(ctx, "uname", "-sr").Output(); err == nil {
		m["kernel"] = strings.TrimSpace(string(out))
	}
	for _, t := range []string{"caddy", "nginx"} {
		if p, err := site.LookTool(t); err == nil {
			if out, err := exec.CommandContext(ctx, p, versionFlag(t)).CombinedOutput(); err == nil {
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

// firstLine shortens a multi-line error (a command's output follows the
// first line) for a table cell.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
