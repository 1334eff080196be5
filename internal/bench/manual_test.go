package bench

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestScriptMarks(t *testing.T) {
	step := func(name string, d time.Duration) string {
		return fmt.Sprintf("STEP %s %d\n", name, t0.Add(d).UnixNano())
	}
	out := step("start-new", 2*time.Second) +
		step("health", 7*time.Second) +
		`{"status":"ok","version":"1.1.0"}` + "\n\n" +
		step("reload", 7250*time.Millisecond) +
		"STEP garbled\n" +
		step("done", 7500*time.Millisecond)
	want := []mark{{2, "start-new"}, {7, "health"}, {7.25, "reload"}, {7.5, "done"}}
	if got := scriptMarks(out, t0); !reflect.DeepEqual(got, want) {
		t.Errorf("scriptMarks = %v, want %v", got, want)
	}
}
