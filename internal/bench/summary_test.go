package bench

import (
	"reflect"
	"testing"
)

func TestSummarize(t *testing.T) {
	wall := func(scen string, p99, wall float64) *Row {
		return &Row{Scenario: scen, Path: "direct", P99MS: p99, WallMS: wall}
	}
	tests := []struct {
		name  string
		runs  [][]*Row
		scen  string
		check func(t *testing.T, s SummaryRow)
	}{
		{
			name: "odd runs: the middle value, and the range",
			runs: [][]*Row{{wall("handoff", 5, 900)}, {wall("handoff", 1, 1100)}, {wall("handoff", 3, 1000)}},
			scen: "handoff",
			check: func(t *testing.T, s SummaryRow) {
				if got, want := s.Metrics["p99_ms"], (Stat{Median: 3, Min: 1, Max: 5}); got != want {
					t.Errorf("p99_ms = %+v, want %+v", got, want)
				}
				if got, want := s.Metrics["wall_ms"], (Stat{Median: 1000, Min: 900, Max: 1100}); got != want {
					t.Errorf("wall_ms = %+v, want %+v", got, want)
				}
				if s.Runs != 3 {
					t.Errorf("runs = %d, want 3", s.Runs)
				}
			},
		},
		{
			name: "even runs: the mean of the middle two, rounded to 3 places",
			runs: [][]*Row{{wall("handoff", 2, 1)}, {wall("handoff", 9, 1)}, {wall("handoff", 1.0005, 1)}, {wall("handoff", 2.0001, 1)}},
			scen: "handoff",
			check: func(t *testing.T, s SummaryRow) {
				if got, want := s.Metrics["p99_ms"], (Stat{Median: 2, Min: 1.0005, Max: 9}); got != want {
					t.Errorf("p99_ms = %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "a figure that does not apply is no metric, not a zero",
			runs: [][]*Row{{wall("baseline-direct", 4, 0)}},
			scen: "baseline-direct",
			check: func(t *testing.T, s SummaryRow) {
				for _, k := range []string{"wall_ms", "switch_p99_ms", "downtime_ms", "vs_manual_wall"} {
					if _, ok := s.Metrics[k]; ok {
						t.Errorf("metric %s present: %+v", k, s.Metrics[k])
					}
				}
				if _, ok := s.Metrics["failed"]; !ok {
					t.Error("failed is always a metric, zero included")
				}
			},
		},
		{
			name: "downtime and ratios to the manual procedure",
			runs: [][]*Row{{{Scenario: "restart", DowntimeMS: ptr(0.0), VsManual: map[string]float64{"wall": 0.25}}}},
			scen: "restart",
			check: func(t *testing.T, s SummaryRow) {
				if _, ok := s.Metrics["downtime_ms"]; !ok {
					t.Error("a reported downtime of 0 is a metric")
				}
				if got := s.Metrics["vs_manual_wall"].Median; got != 0.25 {
					t.Errorf("vs_manual_wall = %v, want 0.25", got)
				}
			},
		},
		{
			name: "failures by kind add up; errors keep their first line",
			runs: [][]*Row{
				{{Scenario: "restart", Failed: 3, ByKind: map[string]int{"refused": 3}}},
				{{Scenario: "restart", Failed: 2, ByKind: map[string]int{"refused": 1, "reset": 1}, Error: "ten-upgrade run: exit 1\nlong output"}},
			},
			scen: "restart",
			check: func(t *testing.T, s SummaryRow) {
				if want := map[string]int{"refused": 4, "reset": 1}; !reflect.DeepEqual(s.Failed, want) {
					t.Errorf("failed by kind = %v, want %v", s.Failed, want)
				}
				if want := []string{"ten-upgrade run: exit 1 ..."}; !reflect.DeepEqual(s.Errors, want) {
					t.Errorf("errors = %q, want %q", s.Errors, want)
				}
				if got, want := s.Metrics["failed"], (Stat{Median: 2.5, Min: 2, Max: 3}); got != want {
					t.Errorf("failed = %+v, want %+v", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range summarize(tt.runs) {
				if s.Scenario == tt.scen {
					tt.check(t, s)
					return
				}
			}
			t.Fatalf("no summary row for %s", tt.scen)
		})
	}
}

func TestSummarizeKeepsTheOrderScenariosFirstRan(t *testing.T) {
	runs := [][]*Row{
		{{Scenario: "baseline-direct"}, {Scenario: "handoff"}},
		{{Scenario: "baseline-direct"}, {Scenario: "manual"}, {Scenario: "handoff"}},
	}
	var got []string
	for _, s := range summarize(runs) {
		got = append(got, s.Scenario)
	}
	if want := []string{"baseline-direct", "handoff", "manual"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order = %q, want %q", got, want)
	}
}

func TestStatOf(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want Stat
	}{
		{"none", nil, Stat{}},
		{"one", []float64{7}, Stat{Median: 7, Min: 7, Max: 7}},
		{"odd", []float64{30, 10, 20}, Stat{Median: 20, Min: 10, Max: 30}},
		{"even: the upper middle", []float64{40, 10, 30, 20}, Stat{Median: 30, Min: 10, Max: 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.in...)
			if got := statOf(in); got != tt.want {
				t.Errorf("statOf(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
			if !reflect.DeepEqual(in, tt.in) {
				t.Errorf("statOf sorted its argument: %v", in)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
