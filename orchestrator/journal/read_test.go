package journal

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestHistoryAndLast(t *testing.T) {
	ctx := context.Background()
	j := openTest(t, t.TempDir())
	if h, err := j.History(ctx, 10); err != nil || len(h) != 0 {
		t.Fatalf("empty History = %v, %v", h, err)
	}
	if u, _, err := j.Last(ctx, StateCommitted); err != nil || u != nil {
		t.Fatalf("empty Last = %v, %v", u, err)
	}
	outcomes := []string{StateCommitted, StateRolledBack, StateCommitted, StateRolledBack, StateCommitted}
	var ids []int64
	for i, state := range outcomes {
		id := begin(t, j, fmt.Sprintf("1.%d.0", i), fmt.Sprintf("1.%d.0", i+1))
		seq := started(t, j, id, "only", nil)
		must(t, j.StepDone(ctx, id, seq, i))
		must(t, j.Finish(ctx, id, state, "", nil))
		ids = append(ids, id)
	}
	running := begin(t, j, "1.5.0", "1.6.0")

	h, err := j.History(ctx, 0)
	must(t, err)
	var got []int64
	for _, u := range h {
		got = append(got, u.ID)
	}
	want := []int64{running, ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("History ids = %v, want newest first %v", got, want)
	}
	h, err = j.History(ctx, 2)
	must(t, err)
	if len(h) != 2 || h[0].ID != running || h[1].ID != ids[4] {
		t.Errorf("History(2) = %+v", h)
	}

	for _, tt := range []struct {
		state string
		want  int64
	}{
		{StateCommitted, ids[4]},
		{StateRolledBack, ids[3]},
		{StateRunning, running},
		{"", running},
	} {
		u, steps, err := j.Last(ctx, tt.state)
		must(t, err)
		if u == nil || u.ID != tt.want {
			t.Errorf("Last(%q) = %+v, want id %d", tt.state, u, tt.want)
			continue
		}
		if tt.state == StateCommitted && (len(steps) != 1 || string(steps[0].Output) != "4") {
			t.Errorf("Last(committed) steps = %+v", steps)
		}
	}
	if u, _, err := j.Last(ctx, StateFailed); err != nil || u != nil {
		t.Errorf("Last(failed) = %+v, %v", u, err)
	}
	if _, _, err := j.Get(ctx, 12345); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(12345) = %v, want ErrNotFound", err)
	}
}
