package server

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/logs"
)

// logPolicy is the log retention of [settings].
func logPolicy(s config.Settings) logs.Policy {
	return logs.Policy{
		MaxAge:  time.Duration(s.LogRetentionDays) * 24 * time.Hour,
		MaxRows: int64(s.LogMaxRows),
	}
}

// runRetention prunes the logs table in the background while active (this
// server supervises) and returns a function that stops it and waits, so
// that no batch is in flight when the database closes.
func runRetention(db *sql.DB, p logs.Policy, active func() bool, log *slog.Logger) (stop func()) {
	r := logs.NewRetention(db, logs.RetentionOptions{Policy: p, Active: active, Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}
