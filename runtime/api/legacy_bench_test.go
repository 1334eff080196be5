package api

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
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
	before := procStatusKB(b, "VmHWM")
	b.ResetTimer()
	for range b.N {
		verifyUnknown(b, ctx, tokens, flood)
	}
	b.StopTimer()
	peak := procStatusKB(b, "VmHWM")
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
	b.Logf("%d x %d concurrent bad tokens: peak RSS %d MiB (before the flood %d MiB)", b.N, flood, peak/1024, before/1024)
}

// procStatusKB reads a kB field of /proc/self/status.
func procStatusKB(tb testing.TB, field string) int {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				tb.Fatalf("parse %s: %v", field, err)
			}
			return n
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}
