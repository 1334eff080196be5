package supervisor

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkAcquire measures request admission for a running instance from
// many goroutines at once: the router's hot path, under the global lock.
func BenchmarkAcquire(b *testing.B) {
	bin := testapp(b)
	dir := b.TempDir()
	cfg := testConfig(dir)
	cfg.Services["web"] = appService(bin)
	db, err := openDBFile(dir + "/tenement.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	lo, hi := randomPorts()
	s, err := New(Options{Config: cfg, DB: db, ServerID: "bench", PortMin: lo, PortMax: hi,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(ctx, true)
	if _, err := s.Spawn(ctx, "web", "a"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, release, err := s.Acquire(ctx, "web", "a")
			if err != nil {
				b.Error(err)
				return
			}
			release()
		}
	})
}
