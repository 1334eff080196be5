package supervisor

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/internal/sqlitefile"
)

// serverRow is a row of servers.
type serverRow struct {
	id        string
	pid       int
	startTime int64
	addr      string
	heartbeat int64
}

// liveServer reports whether r is another live server that heartbeats.
func (s *Supervisor) liveServer(r serverRow) bool {
	return r.id != s.opts.ServerID && proc.Same(r.pid, r.startTime) &&
		time.Duration(s.nowMS()-r.heartbeat)*time.Millisecond <= s.leaseStale()
}

// successors lists the other live servers, newest first.
func (s *Supervisor) successors(ctx context.Context) ([]serverRow, error) {
	all, err := s.servers(ctx, `ORDER BY started_at DESC, rowid DESC`)
	if err != nil {
		return nil, err
	}
	var out []serverRow
	for _, r := range all {
		if s.liveServer(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// serverCols are the columns of a serverRow, in scanServer's order.
const serverCols = `id, pid, proc_start_time, addr, heartbeat_at`

func scanServer(sc interface{ Scan(...any) error }) (serverRow, error) {
	var r serverRow
	var addr sql.NullString
	err := sc.Scan(&r.id, &r.pid, &r.startTime, &addr, &r.heartbeat)
	r.addr = addr.String
	return r, err
}

func (s *Supervisor) servers(ctx context.Context, order string) ([]serverRow, error) {
	out, err := sqlitefile.QueryAll(ctx, s.opts.DB, scanServer,
		`SELECT `+serverCols+` FROM servers WHERE id != ? `+order, s.opts.ServerID)
	if err != nil {
		return nil, fmt.Errorf("read servers: %w", err)
	}
	return out, nil
}

// register records this server in the servers table.
func (s *Supervisor) register(ctx context.Context) error {
	now := s.nowMS()
	if _, err := s.opts.DB.ExecContext(ctx, `
INSERT INTO servers (id, pid, proc_start_time, addr, version, started_at, heartbeat_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
  pid = excluded.pid, proc_start_time = excluded.proc_start_time, addr = excluded.addr,
  version = excluded.version, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,
		s.opts.ServerID, s.pid, s.procStart, nullString(s.opts.Addr), nullString(s.opts.Version),
		s.startedAt.UnixMilli(), now); err != nil {
		return fmt.Errorf("register server: %w", err)
	}
	return nil
}

// heartbeat refreshes this server's row (recreating it if another server
// pruned it while this one was stopped).
func (s *Supervisor) heartbeat(ctx context.Context) error {
	res, err := s.opts.DB.ExecContext(ctx,
		`UPDATE servers SET heartbeat_at = ? WHERE id = ?`, s.nowMS(), s.opts.ServerID)
	if err != nil {
		return fmt.Errorf("server heartbeat: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return s.register(ctx)
	}
	return nil
}

// pruneServers deletes the rows of servers whose process is gone.
func (s *Supervisor) pruneServers(ctx context.Context) error {
	all, err := s.servers(ctx, "")
	if err != nil {
		return err
	}
	for _, r := range all {
		if proc.Same(r.pid, r.startTime) {
			continue
		}
		if _, err := s.opts.DB.ExecContext(ctx,
			`DELETE FROM servers WHERE id = ? AND pid = ? AND proc_start_time = ?`, r.id, r.pid, r.startTime); err != nil {
			return fmt.Errorf("prune servers: %w", err)
		}
		s.log.Info("pruned a dead server's registration", "server", r.id, "pid", r.pid)
	}
	return nil
}

// unregister gives the lease up (if held) and removes this server's row,
// at Shutdown.
func (s *Supervisor) unregister(ctx context.Context) error {
	_, err1 := s.opts.DB.ExecContext(ctx,
		`DELETE FROM supervisor_lease WHERE id = 1 AND holder = ?`, s.opts.ServerID)
	_, err2 := s.opts.DB.ExecContext(ctx, `DELETE FROM servers WHERE id = ?`, s.opts.ServerID)
	return errors.Join(err1, err2)
}

// newServerID makes an id for a server that was given none.
func newServerID() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
