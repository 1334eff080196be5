package bench

import (
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func atPtr(d time.Duration) *time.Time { return ptr(at(d)) }

func TestSwitchWindow(t *testing.T) {
	tests := []struct {
		name     string
		rep      *upgradeReport
		marks    []mark
		from, to time.Time
		ok       bool
	}{
		{
			name: "ten-upgrade: its switch step plus 500ms",
			rep: &upgradeReport{Steps: []upgradeStep{
				{Name: "compat", StartedAt: at(time.Second), EndedAt: atPtr(2 * time.Second)},
				{Name: "switch", StartedAt: at(3 * time.Second), EndedAt: atPtr(3300 * time.Millisecond)},
				{Name: "watch", StartedAt: at(4 * time.Second), EndedAt: atPtr(5 * time.Second)},
			}},
			from: at(3 * time.Second), to: at(3800 * time.Millisecond), ok: true,
		},
		{
			name: "ten-upgrade whose switch did not end: none",
			rep:  &upgradeReport{Steps: []upgradeStep{{Name: "switch", StartedAt: at(3 * time.Second)}}},
		},
		{
			name:  "ten-upgrade without a switch step: none, whatever the marks",
			rep:   &upgradeReport{Steps: []upgradeStep{{Name: "compat", StartedAt: at(time.Second), EndedAt: atPtr(2 * time.Second)}}},
			marks: []mark{{t: 1, label: "reload"}, {t: 2, label: "done"}},
		},
		{
			name:  "manual procedure: from its reload to its end plus 500ms",
			marks: []mark{{t: 2, label: "start-new"}, {t: 7.25, label: "reload"}, {t: 7.5, label: "term-old"}, {t: 7.75, label: "done"}},
			from:  at(7250 * time.Millisecond), to: at(8250 * time.Millisecond), ok: true,
		},
		{
			name:  "manual procedure that failed before its reload: none",
			marks: []mark{{t: 2, label: "start-new"}, {t: 7, label: "health"}, {t: 7.5, label: "done"}},
		},
		{
			name:  "manual procedure that failed before its end: none",
			marks: []mark{{t: 2, label: "start-new"}, {t: 7, label: "reload"}},
		},
		{
			name:  "a reload at the very start of the load counts",
			marks: []mark{{t: 0, label: "reload"}, {t: 0.5, label: "done"}},
			from:  t0, to: at(time.Second), ok: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to, ok := switchWindow(tt.rep, tt.marks, t0)
			if ok != tt.ok || !from.Equal(tt.from) || !to.Equal(tt.to) {
				t.Errorf("switchWindow = %v, %v, %v; want %v, %v, %v", from, to, ok, tt.from, tt.to, tt.ok)
			}
		})
	}
}

func TestRestarts(t *testing.T) {
	tests := []struct {
		name          string
		before, after map[string]int
		want          int
	}{
		{"none", map[string]int{"api:a": 10, "api:b": 11}, map[string]int{"api:a": 10, "api:b": 11}, 0},
		{"one new pid", map[string]int{"api:a": 10, "api:b": 11}, map[string]int{"api:a": 10, "api:b": 20}, 1},
		{"all new pids", map[string]int{"api:a": 10, "api:b": 11}, map[string]int{"api:a": 21, "api:b": 20}, 2},
		{"a tenant gone counts", map[string]int{"api:a": 10, "api:b": 11}, map[string]int{"api:a": 10}, 1},
		{"a tenant new after does not", map[string]int{"api:a": 10}, map[string]int{"api:a": 10, "api:c": 12}, 0},
		{"nothing after: every tenant", map[string]int{"api:a": 10, "api:b": 11, "api:c": 12}, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := restarts(tt.before, tt.after); got != tt.want {
				t.Errorf("restarts = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestStepMarks(t *testing.T) {
	start := at(2 * time.Second)
	tests := []struct {
		name string
		rep  *upgradeReport
		want []mark
	}{
		{"no report: start and end", nil, []mark{{2, "run"}, {3.5, "done"}}},
		{
			"the switch step's start and end",
			&upgradeReport{Steps: []upgradeStep{
				{Name: "stage", StartedAt: at(2100 * time.Millisecond), EndedAt: atPtr(2200 * time.Millisecond)},
				{Name: "switch", StartedAt: at(2500 * time.Millisecond), EndedAt: atPtr(3 * time.Second)},
			}},
			[]mark{{2, "run"}, {2.5, "switch"}, {3, "switched"}, {3.5, "done"}},
		},
		{
			"a switch that did not end",
			&upgradeReport{Steps: []upgradeStep{{Name: "switch", StartedAt: at(2500 * time.Millisecond)}}},
			[]mark{{2, "run"}, {2.5, "switch"}, {3.5, "done"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stepMarks(tt.rep, t0, start, 1500*time.Millisecond); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("stepMarks = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTiming(t *testing.T) {
	steps := []upgradeStep{
		{Name: "fetch", StartedAt: at(0), EndedAt: atPtr(100 * time.Millisecond)},
		{Name: "switch", StartedAt: at(500 * time.Millisecond), EndedAt: atPtr(830 * time.Millisecond)},
		{Name: "watch", StartedAt: at(time.Second), EndedAt: atPtr(1200 * time.Millisecond)},
	}
	tests := []struct {
		name string
		rep  *upgradeReport
		want Row
	}{
		{"no report: the wall time only", nil, Row{WallMS: 1234.57}},
		{
			"ten-upgrade's figures, its duration without fetch and watch",
			&upgradeReport{Result: "committed", DurationMS: 1500, DowntimeMS: ptr(int64(330)), Steps: steps},
			Row{WallMS: 1234.57, Result: "committed", ReportedMS: 1500, SwitchMS: 330, CoreMS: 1200, DowntimeMS: ptr(330.0)},
		},
		{
			"no duration reported: no figure without fetch and watch",
			&upgradeReport{Result: "rolled_back", Steps: steps},
			Row{WallMS: 1234.57, Result: "rolled_back", SwitchMS: 330},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Row
			timing(&r, tt.rep, 1234567*time.Microsecond)
			if !reflect.DeepEqual(r, tt.want) {
				t.Errorf("got  %+v\nwant %+v", r, tt.want)
			}
		})
	}
}

func TestRound(t *testing.T) {
	tests := []struct {
		x      float64
		places int
		want   float64
	}{
		{1.2345, 2, 1.23},
		{1.235, 1, 1.2},
		{1.25, 1, 1.3},
		{-1.25, 1, -1.3},
		{1234.5, 0, 1235},
		{0, 3, 0},
	}
	for _, tt := range tests {
		if got := round(tt.x, tt.places); got != tt.want {
			t.Errorf("round(%v, %d) = %v, want %v", tt.x, tt.places, got, tt.want)
		}
	}
}

func TestCompare(t *testing.T) {
	rows := []*Row{
		{Scenario: "baseline-direct", Path: "direct", P50MS: 1, P99MS: 4, MaxMS: 10},
		{Scenario: "baseline-caddy", Path: "caddy", P99MS: 5},
		{Scenario: "handoff", Path: "direct", Failed: 0, P99MS: 10, SwitchP99MS: 8, WallMS: 1000},
		{Scenario: "restart", Path: "direct", Failed: 6, P99MS: 6, SwitchP99MS: 2, WallMS: 1200},
		{Scenario: "manual", Path: "caddy", Failed: 3, P99MS: 5, SwitchP99MS: 4, WallMS: 5000, P50MS: 2, MaxMS: 20},
	}
	compare(rows)
	handoff, restart, manual := rows[2], rows[3], rows[4]
	if handoff.BaseP99MS != 4 || handoff.BaseP50MS != 1 || handoff.BaseMaxMS != 10 {
		t.Errorf("handoff's baseline = %v/%v/%v, want direct's 1/4/10", handoff.BaseP50MS, handoff.BaseP99MS, handoff.BaseMaxMS)
	}
	if handoff.P99VsBase != 2.5 || handoff.SwitchVsBase != 2 {
		t.Errorf("handoff vs baseline: p99 %v, switch %v; want 2.5, 2", handoff.P99VsBase, handoff.SwitchVsBase)
	}
	if manual.P99VsBase != 1 || manual.BaseP99MS != 5 {
		t.Errorf("manual vs the Caddy baseline: p99 %v of %v; want 1 of 5", manual.P99VsBase, manual.BaseP99MS)
	}
	if want := map[string]float64{"failed": 2, "p50": 0, "p99": 1.2, "switch_p99": 0.5, "max": 0, "wall": 0.24}; !reflect.DeepEqual(restart.VsManual, want) {
		t.Errorf("restart vs manual = %v, want %v", restart.VsManual, want)
	}
	if manual.VsManual != nil || rows[0].VsManual != nil {
		t.Errorf("the manual row and the baselines have no ratio to the manual procedure: %v, %v", manual.VsManual, rows[0].VsManual)
	}
	if rows[0].BaseP99MS != 0 {
		t.Error("a baseline is not compared with itself")
	}
}

func TestCompareLeavesOutWhatItCannotDivideBy(t *testing.T) {
	tests := []struct {
		name   string
		manual *Row
		want   map[string]float64
	}{
		{"a failed manual procedure is no reference", &Row{Scenario: "manual", Path: "caddy", P99MS: 5, Error: "manual procedure: exit status 1"}, nil},
		{"no ratio to a zero", &Row{Scenario: "manual", Path: "caddy", P99MS: 5}, map[string]float64{"p99": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handoff := &Row{Scenario: "handoff", Path: "direct", Failed: 1, P99MS: 10, WallMS: 900}
			compare([]*Row{handoff, tt.manual})
			if !reflect.DeepEqual(handoff.VsManual, tt.want) {
				t.Errorf("vs manual = %v, want %v", handoff.VsManual, tt.want)
			}
			if handoff.BaseP99MS != 0 || handoff.P99VsBase != 0 {
				t.Errorf("compared with a baseline that did not run: %+v", handoff)
			}
		})
	}
}
