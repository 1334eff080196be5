package client

import (
	"testing"
	"time"

	"github.com/tenement/ten/runtime/logs"
)

func TestFormatLogSpan(t *testing.T) {
	at := time.Date(2026, 5, 6, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		span logs.Span
		want string
	}{
		{logs.Span{Oldest: at, RetentionDays: 14}, "logs kept since 2026-05-06T10:00:00Z (retention 14 days)"},
		{logs.Span{Oldest: at, RetentionDays: 14, MaxRows: 500000}, "logs kept since 2026-05-06T10:00:00Z (retention 14 days, at most 500000 lines)"},
		{logs.Span{Oldest: at, MaxRows: 10}, "logs kept since 2026-05-06T10:00:00Z (at most 10 lines)"},
		{logs.Span{Oldest: at}, "logs kept since 2026-05-06T10:00:00Z (kept forever)"},
		{logs.Span{RetentionDays: 14}, "no logs kept yet (retention 14 days)"},
	}
	for _, tc := range tests {
		if got := FormatLogSpan(tc.span); got != tc.want {
			t.Errorf("FormatLogSpan(%+v) = %q, want %q", tc.span, got, tc.want)
		}
	}
}
