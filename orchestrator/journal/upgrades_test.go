package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestBeginRefusedWhileUnsettled(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		state   string
		refused bool
		advice  []string
	}{
		{StateRunning, true, []string{"ten-upgrade rollback", "ten-upgrade run --resume"}},
		{StateInterrupted, true, []string{"ten-upgrade rollback", "ten-upgrade run --resume"}},
		{StateFailed, true, []string{"ten-upgrade rollback"}},
		{StateCommitted, false, nil},
		{StateRolledBack, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			j := openTest(t, t.TempDir())
			id := begin(t, j, "1.0.0", "1.1.0")
			if tt.state != StateRunning {
				must(t, j.Finish(ctx, id, tt.state, "", nil))
			}
			id2, err := j.Begin(ctx, Upgrade{From: "1.0.0", To: "1.2.0"})
			if !tt.refused {
				if err != nil {
					t.Fatalf("Begin after %s: %v", tt.state, err)
				}
				if id2 <= id {
					t.Errorf("new id %d not after %d", id2, id)
				}
				return
			}
			if !errors.Is(err, ErrUnfinished) {
				t.Fatalf("Begin after %s: err = %v, want ErrUnfinished", tt.state, err)
			}
			var ue *UnfinishedError
			if !errors.As(err, &ue) || ue.ID != id || ue.State != tt.state {
				t.Errorf("error %#v, want id %d state %s", err, id, tt.state)
			}
			for _, s := range append(tt.advice, fmt.Sprintf("upgrade %d ", id)) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			// The schema enforces it too.
			_, err = j.db.ExecContext(ctx, `INSERT INTO upgrades (state, started_at) VALUES ('running', 'x')`)
			if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
				t.Errorf("second unsettled row: err = %v, want a UNIQUE violation", err)
			}
		})
	}
}

func TestBeginRecordsUpgrade(t *testing.T) {
	ctx := context.Background()
	j := openTest(t, t.TempDir())
	start := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	params := json.RawMessage(`{"installed":"/usr/local/bin/ten","nonce":"n1"}`)
	id, err := j.Begin(ctx, Upgrade{From: "1.0.0", To: "1.1.0", Strategy: "proxy", StartedAt: start, Params: params, State: "committed"})
	must(t, err)
	u, steps, err := j.Get(ctx, id)
	must(t, err)
	want := Upgrade{ID: id, From: "1.0.0", To: "1.1.0", Strategy: "proxy", State: StateRunning, StartedAt: start, Params: params}
	if fmt.Sprint(u) != fmt.Sprint(want) {
		t.Errorf("Get = %+v\nwant %+v", u, want)
	}
	if len(steps) != 0 {
		t.Errorf("steps = %v", steps)
	}
	if _, err := j.Begin(ctx, Upgrade{Params: json.RawMessage("{")}); err == nil {
		t.Error("Begin accepted invalid JSON params")
	}
}

func TestFinish(t *testing.T) {
	ctx := context.Background()
	j := openTest(t, t.TempDir())
	n := func(v int) *int { return &v }

	id := begin(t, j, "1.0.0", "1.1.0")
	must(t, j.MarkPointOfNoReturn(ctx, id))
	must(t, j.Finish(ctx, id, StateFailed, "step switch failed", n(3)))
	u, _, err := j.Unfinished(ctx)
	must(t, err)
	if u == nil || u.ID != id || u.State != StateFailed || !u.PointOfNoReturn || u.Error != "step switch failed" || *u.FailedRequests != 3 || u.EndedAt.IsZero() {
		t.Fatalf("after failed: %+v", u)
	}

	// A rollback that finishes later keeps the cause and the count.
	must(t, j.Reopen(ctx, id))
	if u, _, _ := j.Get(ctx, id); u.State != StateRunning || !u.EndedAt.IsZero() {
		t.Fatalf("after Reopen: %+v", u)
	}
	must(t, j.Finish(ctx, id, StateRolledBack, "", nil))
	u2, _, err := j.Get(ctx, id)
	must(t, err)
	if u2.State != StateRolledBack || u2.Error != "step switch failed" || u2.FailedRequests == nil || *u2.FailedRequests != 3 {
		t.Errorf("after rolled_back: %+v", u2)
	}
	if u, _, err := j.Unfinished(ctx); err != nil || u != nil {
		t.Errorf("Unfinished after rolled back = %v, %v", u, err)
	}

	// Committing clears an error recorded by an interruption.
	id2 := begin(t, j, "1.0.0", "1.1.0")
	must(t, j.Finish(ctx, id2, StateInterrupted, "killed", nil))
	must(t, j.Reopen(ctx, id2))
	must(t, j.Finish(ctx, id2, StateCommitted, "", n(0)))
	u3, _, err := j.Get(ctx, id2)
	must(t, err)
	if u3.State != StateCommitted || u3.Error != "" || *u3.FailedRequests != 0 {
		t.Errorf("after commit: %+v", u3)
	}

	// Reopen refuses while another upgrade is unsettled.
	id3 := begin(t, j, "1.1.0", "1.2.0")
	if err := j.Reopen(ctx, id2); !errors.Is(err, ErrUnfinished) {
		t.Errorf("Reopen with %d unsettled: %v", id3, err)
	}
	if err := j.Reopen(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Reopen(999) = %v", err)
	}
}
