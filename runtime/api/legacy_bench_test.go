package api

import (
	"context"
	"syscall"
	"testing"

	"github.com/tenement/ten/internal/tenementdb"
)

// BenchmarkBadTokenFlood is defect 10's reproduction: floods of 20
// concurrent well-formed bad tokens with tenement's admin hash present, so
// every one must be checked with Argon2id (19 MiB each). It reports the
// process's peak RSS (VmHWM) after the flood; with the Argon2 slots it
// stays near argon2Slots checks' worth instead of growing with the flood.
//
//	go test ./runtime/api/ -run '^$' -bench BadTokenFlood -benchtime 5x
func BenchmarkBadTokenFlood(b *testing.B) {
	ctx := context.Background()
	db, _ := openTenementDB(b, tenementdb.Options{})
	tokens := NewTokens(db, nil)
	const flood = 20
	before := peakRSSKB(b)
	b.ResetTimer()
	for range b.N {
		verifyUnknown(b, ctx, tokens, flood)
	}
	b.StopTimer()
	peak := peakRSSKB(b)
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
	b.Logf("%d x %d concurrent bad tokens: peak RSS %d MiB (before the flood %d MiB)", b.N, flood, peak/1024, before/1024)
}

// peakRSSKB is the process's peak resident set size in KiB (VmHWM): the
// kernel reports it in getrusage's maxrss.
func peakRSSKB(tb testing.TB) int {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return int(ru.Maxrss)
}
