package supervisor

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tenement/ten/internal/sqlitefile"
)

// Instance state lives in instance_state, one row per instance, written on
// every change, so that another server over the same data directory (a
// successor during an upgrade, or this one after a crash) can find the
// tenants, verify them by pid and start time, and adopt them.

const timeLayout = time.RFC3339Nano

// persist writes the instance's current state. dbMu orders writes and the
// snapshot is taken after acquiring it, so the last write always carries
// the latest state even when two goroutines persist the same instance.
// An instance no longer in the map (stopped and forgotten) is not written
// back.
func (s *Supervisor) persist(ctx context.Context, in *inst) error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	s.mu.Lock()
	if s.insts[in.key] != in || s.role == roleFollower {
		// A follower writes nothing: the supervisor's rows are the truth.
		s.mu.Unlock()
		return nil
	}
	snap := in.snapshot()
	s.mu.Unlock()

	now := s.now().UTC().Format(timeLayout)
	var started any
	if !snap.StartedAt.IsZero() {
		started = snap.StartedAt.UTC().Format(timeLayout)
	}
	_, err := s.opts.DB.ExecContext(ctx, `
INSERT INTO instance_state
  (process, instance_id, port, pid, weight, status, restarts, started_at, updated_at, proc_start_time, owner, log_path)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (process, instance_id) DO UPDATE SET
  port = excluded.port, pid = excluded.pid, weight = excluded.weight,
  status = excluded.status, restarts = excluded.restarts,
  started_at = excluded.started_at, updated_at = excluded.updated_at,
  proc_start_time = excluded.proc_start_time, owner = excluded.owner,
  log_path = excluded.log_path`,
		snap.Service, snap.ID, nullInt(snap.Port), nullInt(snap.PID), snap.Weight, string(snap.State),
		snap.Restarts, started, now, nullInt64(snap.ProcStartTime), nullString(snap.Owner), nullString(snap.LogPath))
	if err != nil {
		return fmt.Errorf("record %s: %w", snap.Name(), err)
	}
	return nil
}

// deleteRow removes the row of k. With ifGone, it does not if k has been
// registered again meanwhile (a new spawn, whose own writes come after
// this one).
func (s *Supervisor) deleteRow(ctx context.Context, k key, ifGone bool) error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	s.mu.Lock()
	_, back := s.insts[k]
	follower := s.role == roleFollower
	s.mu.Unlock()
	if (ifGone && back) || follower {
		return nil
	}
	if _, err := s.opts.DB.ExecContext(ctx,
		`DELETE FROM instance_state WHERE process = ? AND instance_id = ?`, k.service, k.id); err != nil {
		return fmt.Errorf("forget %s: %w", k, err)
	}
	return nil
}

// row is one instance_state row.
type row struct {
	key
	port, pid int
	weight    int
	status    State
	restarts  int
	startedAt time.Time
	startTime int64
	owner     string
	logPath   string
}

func (s *Supervisor) loadRows(ctx context.Context) ([]row, error) {
	out, err := sqlitefile.QueryAll(ctx, s.opts.DB, scanRow, `
SELECT process, instance_id, port, pid, weight, status, restarts, started_at,
       proc_start_time, owner, log_path
FROM instance_state ORDER BY process, instance_id`)
	if err != nil {
		return nil, fmt.Errorf("load instance state: %w", err)
	}
	return out, nil
}

func scanRow(sc sqlitefile.Scanner) (row, error) {
	var r row
	var port, pid, startTime sql.NullInt64
	var started, owner, logPath sql.NullString
	var status string
	if err := sc.Scan(&r.service, &r.id, &port, &pid, &r.weight, &status, &r.restarts,
		&started, &startTime, &owner, &logPath); err != nil {
		return row{}, err
	}
	r.port, r.pid, r.startTime = int(port.Int64), int(pid.Int64), startTime.Int64
	r.status = State(status)
	r.owner, r.logPath = owner.String, logPath.String
	if started.Valid {
		r.startedAt, _ = time.Parse(time.RFC3339Nano, started.String)
	}
	return r, nil
}

// recordedPorts returns the ports recorded for live-looking rows, which may
// belong to another server's tenants.
func (s *Supervisor) recordedPorts(ctx context.Context) (map[int]bool, error) {
	rows, err := s.opts.DB.QueryContext(ctx, `
SELECT port FROM instance_state
WHERE port IS NOT NULL AND port > 0 AND pid IS NOT NULL AND pid > 0
  AND status NOT IN ('idle', 'stopped', 'failed')`)
	if err != nil {
		return nil, fmt.Errorf("recorded ports: %w", err)
	}
	defer rows.Close()
	m := map[int]bool{}
	for rows.Next() {
		var p int
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("recorded ports: %w", err)
		}
		m[p] = true
	}
	return m, rows.Err()
}

func nullInt(v int) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullInt64(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}
