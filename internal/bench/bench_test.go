package bench

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
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

// A given work directory only holds the run's own directory: removing
// that afterwards leaves everything else in it alone.
func TestMakeWorkDirIsAlwaysNew(t *testing.T) {
	parent := t.TempDir()
	mine := filepath.Join(parent, "notes.txt")
	if err := os.WriteFile(mine, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{parent, filepath.Join(parent, "new", "nested")} {
		dir, err := makeWorkDir(in)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(dir) != in || !strings.HasPrefix(filepath.Base(dir), "ten-bench-") {
			t.Errorf("makeWorkDir(%s) = %s, want a new ten-bench-* directory in it", in, dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(mine); err != nil || string(b) != "keep me" {
		t.Errorf("a file beside the work directory: %q, %v", b, err)
	}
}
