package bench

import "sort"

// Stat is a metric over the runs: the median and the range.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// SummaryRow is one scenario over every run.
type SummaryRow struct {
	Scenario string          `json:"scenario"`
	Path     string          `json:"path"`
	Runs     int             `json:"runs"`
	Errors   []string        `json:"errors,omitempty"`
	Failed   map[string]int  `json:"failed_by_kind_total"`
	Metrics  map[string]Stat `json:"metrics"`
}

// metrics are the figures of a row the summary takes the median of. The
// optional ones are left out when zero, so that a scenario without a
// switch step or a manual reference has no such metric rather than a 0.
func metrics(r *Row) map[string]float64 {
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

// summarize takes every scenario over the runs, in the order they first
// ran: the median and range of each metric, the errors, the failures by
// kind added up.
func summarize(runs [][]*Row) []SummaryRow {
	var order []string
	by := map[string][]*Row{}
	for _, rows := range runs {
		for _, r := range rows {
			if by[r.Scenario] == nil {
				order = append(order, r.Scenario)
			}
			by[r.Scenario] = append(by[r.Scenario], r)
		}
	}
	var out []SummaryRow
	for _, name := range order {
		rs := by[name]
		sr := SummaryRow{Scenario: name, Path: rs[0].Path, Runs: len(rs), Failed: map[string]int{}, Metrics: map[string]Stat{}}
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
			sr.Metrics[k] = Stat{Median: round(med, 3), Min: v[0], Max: v[len(v)-1]}
		}
		out = append(out, sr)
	}
	return out
}
