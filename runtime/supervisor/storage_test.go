package supervisor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/internal/syncbuf"
	"github.com/tenement/ten/runtime/config"
)

func TestMeasureDir(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, n int) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a", 1000)
	write("sub/b", 2000)
	write("sub/deeper/c", 3000)
	outside := filepath.Join(t.TempDir(), "big")
	os.WriteFile(outside, make([]byte, 1<<20), 0o644)
	os.Symlink(outside, filepath.Join(dir, "link")) // not followed, not counted

	for _, tc := range []struct {
		name     string
		dir      string
		limit    int
		used     int64
		complete bool
	}{
		{"whole tree", dir, 100, 6000, true},
		{"missing directory", filepath.Join(dir, "nope"), 100, 0, true},
		// dir, a, link, sub, sub/b: the walk stops before sub/deeper.
		{"capped walk", dir, 5, 3000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			used, complete, err := measureDir(tc.dir, tc.limit)
			if err != nil || used != tc.used || complete != tc.complete {
				t.Fatalf("got %d %v %v, want %d %v", used, complete, err, tc.used, tc.complete)
			}
		})
	}
}

// storageEnv starts a supervisor whose service web has a 5 MB quota.
func storageEnv(t *testing.T, enforce bool) (*env, *syncbuf.Buffer) {
	t.Helper()
	bin := testapp(t)
	logs := &syncbuf.Buffer{}
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService(bin, func(s *config.Service) {
			s.StorageQuotaMB = 5
			s.Workdir = "{data_dir}/{name}/{id}" // the tenant writes in its data directory
			s.StorageEnforce = enforce
			s.Restart = config.RestartNever
		})
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(logs, testLogWriter()), nil))
	})
	return e, logs
}

func tenantWrite(t *testing.T, addr, file string, mb int) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/write?file=" + file + "&mb=" + strconv.Itoa(mb))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("write: %d %s", resp.StatusCode, body)
	}
}

// TestStorageOverQuotaReported: a tenant that writes past its quota is
// reported in the snapshot, by Storage, and in the log (a warning at
// 80%, an error at 100%, each once); it keeps running (a soft limit).
func TestStorageOverQuotaReported(t *testing.T) {
	e, logs := storageEnv(t, false)
	in, err := e.s.Spawn(context.Background(), "web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if in.StorageQuotaBytes != 5<<20 {
		t.Fatalf("quota %d, want %d", in.StorageQuotaBytes, 5<<20)
	}
	tenantWrite(t, in.Addr, "a", 4)
	waitFor(t, 10*time.Second, "the 80% warning", func() bool {
		return strings.Contains(logs.String(), "instance web:alice uses 80% of its storage quota (5 MB)")
	})
	if now, _ := e.s.Get("web", "alice"); now.StorageOverQuota {
		t.Fatal("over quota at 4 of 5 MB")
	}
	tenantWrite(t, in.Addr, "b", 20)
	waitFor(t, 10*time.Second, "over quota in the snapshot", func() bool {
		now, _ := e.s.Get("web", "alice")
		return now.StorageOverQuota && now.StorageUsedBytes >= 24<<20
	})
	if !strings.Contains(logs.String(), "level=ERROR msg=\"instance web:alice is over its storage quota (5 MB)\"") {
		t.Fatalf("no error logged:\n%s", logs.String())
	}
	info, err := e.s.Storage(context.Background(), "web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !info.OverQuota || info.UsedBytes < 24<<20 || info.QuotaBytes != 5<<20 || info.UsagePercent < 480 || !info.Complete || info.Enforced {
		t.Fatalf("storage info %+v", info)
	}
	// Measured again every interval: the crossing is logged once.
	passes := e.s.lim.passes.Load()
	waitFor(t, 10*time.Second, "three more measurements", func() bool { return e.s.lim.passes.Load() >= passes+3 })
	if n := strings.Count(logs.String(), "is over its storage quota"); n != 1 {
		t.Fatalf("over-quota error logged %d times, want once", n)
	}
	if now, _ := e.s.Get("web", "alice"); now.State != StateRunning {
		t.Fatalf("soft limit stopped the tenant: %s", now.State)
	}
	if _, err := e.s.Storage(context.Background(), "web", "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Storage of an unknown instance: %v", err)
	}
}

// TestStorageEnforceRefusesStart: with storage_enforce, an instance over
// its quota is not started again, and the error says why and what to do.
func TestStorageEnforceRefusesStart(t *testing.T) {
	e, _ := storageEnv(t, true)
	in, err := e.s.Spawn(context.Background(), "web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	tenantWrite(t, in.Addr, "big", 6)
	_, err = e.s.Restart(context.Background(), "web", "alice")
	if !errors.Is(err, ErrStorageQuota) || !strings.Contains(err.Error(), "raise storage_quota_mb") {
		t.Fatalf("restart over an enforced quota: %v", err)
	}
	// Cleaned up, it starts again.
	os.Remove(filepath.Join(e.dir, "web", "alice", "big"))
	if _, err := e.s.Restart(context.Background(), "web", "alice"); err != nil {
		t.Fatalf("restart after cleaning up: %v", err)
	}
}

// BenchmarkMeasureDir measures the cost per entry of the storage walk,
// which storageWalkLimit bounds: 10,000 files in 100 directories.
func BenchmarkMeasureDir(b *testing.B) {
	dir := b.TempDir()
	for d := range 100 {
		sub := filepath.Join(dir, strconv.Itoa(d))
		os.Mkdir(sub, 0o755)
		for f := range 100 {
			os.WriteFile(filepath.Join(sub, strconv.Itoa(f)), []byte("x"), 0o644)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if used, complete, err := measureDir(dir, storageWalkLimit); err != nil || !complete || used != 10000 {
			b.Fatal(used, complete, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10100, "ns/entry")
}
