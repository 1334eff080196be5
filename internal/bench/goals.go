package bench

import "fmt"

// Goal is one of the benchmark's goals, judged on the summary. The goals
// are reported, not enforced: times depend on the machine.
type Goal struct {
	Goal     string  `json:"goal"`
	Measured float64 `json:"measured"`
	Limit    float64 `json:"limit"`
	Unit     string  `json:"unit"`
	Met      bool    `json:"met"`
	Known    bool    `json:"measured_ok"`
}

func (g Goal) String() string {
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

// judge measures the summary against the goals (docs/BENCHMARKS.md). A
// scenario that did not run, or failed in any run, is not measured: its
// figures would judge a broken upgrade.
func judge(sum []SummaryRow) []Goal {
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
	var gs []Goal
	// useMax judges the worst run, not the median; strict wants the
	// figure below the limit, not at it.
	add := func(name, scen, metric string, limit float64, unit string, useMax, strict bool) {
		v, ok := get(scen, metric, useMax)
		met := v <= limit
		if strict {
			met = v < limit
		}
		gs = append(gs, Goal{Goal: name, Measured: v, Limit: limit, Unit: unit, Met: ok && met, Known: ok})
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
