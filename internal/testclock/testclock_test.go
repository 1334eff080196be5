package testclock

import (
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		clock *Clock
		// the clock's time after Advance(time.Hour), between lo and hi
		lo, hi func(before time.Time) time.Time
	}{
		{"stopped", Stopped(base),
			func(time.Time) time.Time { return base.Add(time.Hour) },
			func(time.Time) time.Time { return base.Add(time.Hour) }},
		{"running", Running(),
			func(before time.Time) time.Time { return before.Add(time.Hour) },
			func(time.Time) time.Time { return time.Now().Add(time.Hour) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			tt.clock.Advance(time.Hour)
			got := tt.clock.Now()
			if lo, hi := tt.lo(before), tt.hi(before); got.Before(lo) || got.After(hi) {
				t.Errorf("Now() = %v, want between %v and %v", got, lo, hi)
			}
		})
	}
}
