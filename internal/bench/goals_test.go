package bench

import "testing"

func TestJudge(t *testing.T) {
	row := func(scen string, metrics map[string]Stat, errs ...string) SummaryRow {
		return SummaryRow{Scenario: scen, Metrics: metrics, Errors: errs}
	}
	tests := []struct {
		name string
		sum  []SummaryRow
		goal string
		want Goal
	}{
		{
			name: "a scenario that did not run is not measured",
			sum:  nil,
			goal: "handoff: failed requests (worst run)",
			want: Goal{Limit: 0, Known: false, Met: false},
		},
		{
			name: "a scenario with an error in any run is not measured",
			sum:  []SummaryRow{row("handoff", map[string]Stat{"failed": {}}, "ten-upgrade run: exit 1")},
			goal: "handoff: failed requests (worst run)",
			want: Goal{Limit: 0, Known: false, Met: false},
		},
		{
			name: "a metric the scenario lacks is not measured",
			sum:  []SummaryRow{row("rollback", map[string]Stat{"failed": {}})},
			goal: "rollback: wall time",
			want: Goal{Limit: 1000, Unit: "ms", Known: false, Met: false},
		},
		{
			name: "failed requests are judged on the worst run, not the median",
			sum:  []SummaryRow{row("proxy-nginx", map[string]Stat{"failed": {Median: 0, Min: 0, Max: 2}})},
			goal: "proxy-nginx: failed requests (worst run)",
			want: Goal{Measured: 2, Limit: 0, Known: true, Met: false},
		},
		{
			name: "no failed request in any run",
			sum:  []SummaryRow{row("rollback", map[string]Stat{"failed": {}})},
			goal: "rollback: failed requests (worst run)",
			want: Goal{Measured: 0, Limit: 0, Known: true, Met: true},
		},
		{
			name: "wall time at the limit misses: it must be below",
			sum:  []SummaryRow{row("handoff", map[string]Stat{"wall_excl_fetch_watch_ms": {Median: 1000, Min: 1, Max: 5000}})},
			goal: "handoff: wall time without fetch and watch",
			want: Goal{Measured: 1000, Limit: 1000, Unit: "ms", Known: true, Met: false},
		},
		{
			name: "wall time is judged on the median",
			sum:  []SummaryRow{row("proxy-caddy", map[string]Stat{"wall_excl_fetch_watch_ms": {Median: 1999, Min: 1, Max: 5000}})},
			goal: "proxy (Caddy): wall time without fetch and watch",
			want: Goal{Measured: 1999, Limit: 2000, Unit: "ms", Known: true, Met: true},
		},
		{
			name: "switch p99 at twice the baseline meets the goal",
			sum:  []SummaryRow{row("proxy-nginx", map[string]Stat{"switch_p99_vs_baseline": {Median: 2, Max: 9}})},
			goal: "proxy-nginx: p99 during the switch / baseline p99",
			want: Goal{Measured: 2, Limit: 2, Unit: "x", Known: true, Met: true},
		},
		{
			name: "switch p99 above twice the baseline misses",
			sum:  []SummaryRow{row("handoff", map[string]Stat{"switch_p99_vs_baseline": {Median: 4.03}})},
			goal: "handoff: p99 during the switch / baseline p99",
			want: Goal{Measured: 4.03, Limit: 2, Unit: "x", Known: true, Met: false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			goals := judge(tt.sum)
			if len(goals) != 12 {
				t.Fatalf("%d goals, want 12 whatever ran", len(goals))
			}
			tt.want.Goal = tt.goal
			for _, g := range goals {
				if g.Goal == tt.goal {
					if g != tt.want {
						t.Errorf("got  %+v\nwant %+v", g, tt.want)
					}
					return
				}
			}
			t.Fatalf("no goal %q", tt.goal)
		})
	}
}

func TestGoalString(t *testing.T) {
	tests := []struct {
		g    Goal
		want string
	}{
		{Goal{Goal: "rollback: wall time", Limit: 1000, Unit: "ms"}, "[ n/a ] rollback: wall time: not measured"},
		{Goal{Goal: "rollback: wall time", Measured: 782, Limit: 1000, Unit: "ms", Known: true, Met: true}, "[ met ] rollback: wall time: 782ms (limit 1000ms)"},
		{
			Goal{Goal: "handoff: wall time without fetch and watch", Measured: 1103, Limit: 1000, Unit: "ms", Known: true},
			"[MISSED] handoff: wall time without fetch and watch: 1103ms (limit 1000ms; 103ms over, 10% over)",
		},
		{
			Goal{Goal: "handoff: failed requests (worst run)", Measured: 3, Known: true},
			"[MISSED] handoff: failed requests (worst run): 3 (limit 0; 3 over)",
		},
	}
	for _, tt := range tests {
		if got := tt.g.String(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}
