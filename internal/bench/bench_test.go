package bench

import (
	"reflect"
	"testing"
)

func TestFailures(t *testing.T) {
	tests := []struct {
		name string
		runs [][]*Row
		want []string
	}{
		{
			name: "every scenario clean",
			runs: [][]*Row{{{Scenario: "handoff", MustNotFail: true, Sent: 100}, {Scenario: "restart", Sent: 100}}},
		},
		{
			name: "dropped requests fail a strategy that must not drop any",
			runs: [][]*Row{
				{{Scenario: "handoff", MustNotFail: true, Sent: 100}},
				{{Scenario: "handoff", MustNotFail: true, Sent: 100, Failed: 2, ByKind: map[string]int{"reset": 2}}},
			},
			want: []string{"run 2 handoff: 2/100 requests failed map[reset:2] "},
		},
		{
			name: "the restart strategy and the manual procedure may drop requests",
			runs: [][]*Row{{{Scenario: "restart", Sent: 100, Failed: 10}, {Scenario: "manual", Sent: 100, Failed: 1}}},
		},
		{
			name: "an error fails any scenario",
			runs: [][]*Row{{{Scenario: "restart", Error: "ten-upgrade run: exit status 1"}, {Scenario: "rollback", MustNotFail: true, Sent: 5, Error: "boom"}}},
			want: []string{"run 1 restart: ten-upgrade run: exit status 1", "run 1 rollback: 0/5 requests failed map[] boom"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failures(tt.runs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("failures = %q, want %q", got, tt.want)
			}
		})
	}
}
