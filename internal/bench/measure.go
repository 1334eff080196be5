package bench

import (
	"time"

	"github.com/tenement/ten/internal/loadgen"
)

// Row is one scenario of one run, as results.json records it.
type Row struct {
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

	// For the plot only: results.json would be mostly samples.
	samples []point
	marks   []mark
}

// point is one request: seconds since the load started, latency.
type point struct {
	t, ms  float64
	failed bool
}

// mark is a step of the command, seconds since the load started.
type mark struct {
	t     float64
	label string
}

// fill computes the row's figures from the load: counts over the whole
// load, latencies over [from, to).
func fill(r *Row, res *loadgen.Result, t0, from, to time.Time) {
	r.Sent, r.Failed, r.ByKind, r.FirstErrors = res.Sent, res.Failed, res.ByKind, res.FirstErrors
	w := res.Window(from, to)
	r.WindowS = round(to.Sub(from).Seconds(), 3)
	r.WindowSent, r.WindowFailed = w.Sent, w.Failed
	r.P50MS, r.P99MS, r.MaxMS = ms(w.Percentile(50)), ms(w.Percentile(99)), ms(w.Max())
	for _, s := range res.Samples {
		r.samples = append(r.samples, point{t: s.At.Sub(t0).Seconds(), ms: float64(s.Latency.Microseconds()) / 1000, failed: s.Err != ""})
	}
}

// fillSwitch computes the latencies of the switch window [from, to).
func fillSwitch(r *Row, res *loadgen.Result, from, to time.Time) {
	w := res.Window(from, to)
	r.SwitchS = round(to.Sub(from).Seconds(), 3)
	r.SwitchSent = w.Sent
	r.SwitchP50MS, r.SwitchP99MS, r.SwitchMaxMS = ms(w.Percentile(50)), ms(w.Percentile(99)), ms(w.Max())
}

// switchWindow is when the traffic moved: ten-upgrade's switch step, or
// the manual procedure from its proxy reload to its end; plus 500ms, for
// the requests in flight at the switch to show.
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

// timing records the command's wall time and, from ten-upgrade's report,
// its own figures.
func timing(r *Row, rep *upgradeReport, took time.Duration) {
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

// restarts counts the tenants of before whose pid is not the same after.
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

// round rounds half away from zero to places decimals.
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
