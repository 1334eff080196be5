// Package journal is ten-upgrade's crash-safe record of upgrades: what each
// upgrade is, which of its steps have started, finished, failed or been
// undone, with their inputs and outputs. It lives in one SQLite file,
// {state_dir}/journal.db, next to the lock file that lets only one
// ten-upgrade change the installation at a time.
//
// Every write is its own committed, synced transaction, made before the
// action it describes proceeds (write-ahead). Whatever instant ten-upgrade
// is killed at, even with SIGKILL or a power cut, the journal says which
// steps may have had an effect: a step recorded "started" may have happened
// partly, wholly or not at all; a step recorded "done" happened, with the
// recorded output. Recovery therefore undoes or re-runs steps, and every
// undo must be idempotent (see Action).
//
// # Upgrade states
//
//	running      in progress, or its process died (Holder tells which)
//	interrupted  stopped on purpose before it finished; resume or roll back
//	failed       failed, and the rollback did not complete (an undo failed)
//	committed    finished: the new version is in place
//	rolled_back  finished: every step that had an effect was undone
//
// running, interrupted and failed are unsettled: at most one upgrade is
// unsettled at a time (enforced by the schema), Unfinished returns it and
// Begin refuses to start another until it is resumed or rolled back. A
// failed upgrade counts as unsettled on purpose: the installation is half
// rolled back, and a new upgrade on top of it would bury what is left to
// undo.
//
// # Step states
//
//	started      written before the step's action runs
//	done         the action succeeded; Output holds its result
//	failed       the action returned an error (Error)
//	undoing      written before the step's undo runs
//	undone       the undo succeeded
//	undo_failed  the undo returned an error (UndoError)
//
// # Storage
//
// journal.db uses the rollback journal (journal_mode=DELETE) with
// synchronous=EXTRA: FULL syncs the rollback journal and the database on
// every commit, and EXTRA adds the sync of the directory after the rollback
// journal is unlinked. That unlink is the commit point in DELETE mode, so
// without EXTRA a power cut right after a commit could bring the
// transaction back as a hot journal and roll it back: the record of a step
// that has already acted would be lost. WAL with synchronous=FULL would be
// as durable with fewer syncs, but the journal writes a few dozen small
// rows per upgrade, so the syncs cost nothing that matters, and DELETE mode
// keeps the record one self-contained file at rest (no -wal or -shm to copy
// along when it is inspected or attached to a bug report), works on any
// local or network filesystem, and has no race when two processes open a
// new file at once (switching a new file to WAL can fail at once with
// SQLITE_BUSY). Readers (`ten-upgrade status`) and the writer wait for each
// other through busy_timeout; every transaction is a few rows.
package journal

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// FileName is the journal's database file inside the state directory.
const FileName = "journal.db"

// BusyTimeout is how long a statement waits for another process's lock on
// journal.db (a concurrent `ten-upgrade status`, say) before failing.
const BusyTimeout = 10 * time.Second

// applicationID marks journal.db as a ten-upgrade journal (PRAGMA
// application_id), so that it is not mistaken for the state database or
// any other SQLite file. It is "tenJ" in ASCII.
const applicationID = 0x74656e4a

// schemaVersion is the newest journal schema this code knows (PRAGMA
// user_version).
const schemaVersion = 1

// Upgrade states.
const (
	StateRunning     = "running"
	StateCommitted   = "committed"
	StateRolledBack  = "rolled_back"
	StateFailed      = "failed"
	StateInterrupted = "interrupted"
)

// Step states.
const (
	StepStarted    = "started"
	StepDone       = "done"
	StepFailed     = "failed"
	StepUndoing    = "undoing"
	StepUndone     = "undone"
	StepUndoFailed = "undo_failed"
)

// unsettled lists the upgrade states that need a resume or a rollback, as
// an SQL list.
const unsettledSQL = `('running','interrupted','failed')`

// Settled reports whether an upgrade in state needs nothing more: it was
// committed or rolled back.
func Settled(state string) bool {
	return state == StateCommitted || state == StateRolledBack
}

var (
	// ErrUnfinished is returned (wrapped in an *UnfinishedError) when an
	// upgrade cannot begin because another one is unsettled.
	ErrUnfinished = errors.New("an upgrade is unfinished")
	// ErrNotFound is returned by Get for an unknown upgrade id.
	ErrNotFound = errors.New("no such upgrade")
)

// UnfinishedError says which upgrade is unsettled and what to do about it.
type UnfinishedError struct {
	ID       int64
	From, To string
	State    string
}

func (e *UnfinishedError) Error() string {
	what := fmt.Sprintf("upgrade %d (%s -> %s) is unfinished (%s)", e.ID, e.From, e.To, e.State)
	if e.State == StateFailed {
		return what + ": its rollback did not complete; see `ten-upgrade status`, fix the cause, then run `ten-upgrade rollback` to finish undoing it"
	}
	return what + ": see `ten-upgrade status`, then run `ten-upgrade rollback` to undo it or `ten-upgrade run --resume` to finish it"
}

// Is makes errors.Is(err, ErrUnfinished) true.
func (e *UnfinishedError) Is(target error) bool { return target == ErrUnfinished }

// Upgrade is one upgrade as recorded.
type Upgrade struct {
	ID       int64
	From, To string
	Strategy string
	// State is one of the State* constants.
	State     string
	StartedAt time.Time
	// EndedAt is zero until Finish.
	EndedAt time.Time
	// Error is why it failed or was rolled back; empty if committed.
	Error string
	// FailedRequests counts the requests that failed during the switch, if
	// measured.
	FailedRequests *int
	// PointOfNoReturn is set once the new version has written data the old
	// schema cannot hold: rolling back then means restoring the database
	// backup.
	PointOfNoReturn bool
	// Params are the inputs needed to resume: paths, versions, nonce,
	// ports. Opaque to the journal; must be JSON if set.
	Params json.RawMessage
}

// Step is one step of an upgrade as recorded.
type Step struct {
	UpgradeID int64
	// Seq numbers the steps of an upgrade from 1, in the order they ran.
	Seq  int
	Name string
	// State is one of the Step* constants.
	State string
	// Attempts is how many times the action was started: more than 1 when
	// a resume re-ran it after a crash.
	Attempts int
	// Input and Output are the JSON given to StepStarted and StepDone; nil
	// if none.
	Input, Output json.RawMessage
	// Error is why the action failed; UndoError why its undo failed. An
	// undone step keeps its Error, so the step that failed stays visible.
	Error     string
	UndoError string
	StartedAt time.Time
	// EndedAt is when the step last changed state after starting (done,
	// failed, undone, undo failed); zero while started or undoing.
	EndedAt time.Time
}

// Journal is an open journal. Its methods are safe for concurrent use, but
// an upgrade's steps are meant to be written by one goroutine at a time.
type Journal struct {
	db  *sql.DB
	dir string
	now func() time.Time
}

// Open opens the journal in stateDir, creating the directory (mode 0700)
// and journal.db (mode 0600) if needed, and brings its schema up to date.
// It does not take the lock: `ten-upgrade status` and `history` read the
// journal while a run holds it.
func Open(ctx context.Context, stateDir string) (*Journal, error) {
	if stateDir == "" {
		return nil, errors.New("open journal: empty state directory")
	}
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, fmt.Errorf("open journal in %s: %w", stateDir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// Create the file ourselves so that it, and the rollback journals
	// SQLite creates beside it with the same mode, are 0600.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	f.Close()

	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	// One connection: statements of this process never wait for each
	// other's SQLite locks, only for other processes'.
	db.SetMaxOpenConns(1)
	j := &Journal{db: db, dir: dir, now: time.Now}
	if err := j.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	return j, nil
}

func dsn(path string) string {
	params := []string{
		// busy_timeout first: the pragmas after it may wait for a lock.
		fmt.Sprintf("_pragma=busy_timeout(%d)", BusyTimeout.Milliseconds()),
		"_pragma=journal_mode(DELETE)",
		"_pragma=synchronous(EXTRA)",
		"_pragma=foreign_keys(1)",
		// Write transactions take the write lock up front, so they wait
		// through busy_timeout instead of failing when they first write.
		"_txlock=immediate",
	}
	return "file:" + (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath() + "?" + strings.Join(params, "&")
}

// Dir is the state directory, as an absolute path.
func (j *Journal) Dir() string { return j.dir }

// Path is the journal's database file.
func (j *Journal) Path() string { return filepath.Join(j.dir, FileName) }

// Close closes the database. It does not release a lock taken with Lock.
func (j *Journal) Close() error { return j.db.Close() }

const schemaV1 = `
CREATE TABLE upgrades (
	id                 INTEGER PRIMARY KEY AUTOINCREMENT,
	from_version       TEXT    NOT NULL DEFAULT '',
	to_version         TEXT    NOT NULL DEFAULT '',
	strategy           TEXT    NOT NULL DEFAULT '',
	state              TEXT    NOT NULL CHECK (state IN ('running','committed','rolled_back','failed','interrupted')),
	started_at         TEXT    NOT NULL,
	ended_at           TEXT,
	error              TEXT    NOT NULL DEFAULT '',
	failed_requests    INTEGER,
	point_of_no_return INTEGER NOT NULL DEFAULT 0,
	params             TEXT
);
-- At most one unsettled upgrade.
CREATE UNIQUE INDEX upgrades_one_unsettled ON upgrades ((state IN ` + unsettledSQL + `))
	WHERE state IN ` + unsettledSQL + `;
CREATE TABLE steps (
	upgrade_id INTEGER NOT NULL REFERENCES upgrades (id),
	seq        INTEGER NOT NULL,
	name       TEXT    NOT NULL,
	state      TEXT    NOT NULL CHECK (state IN ('started','done','failed','undoing','undone','undo_failed')),
	attempts   INTEGER NOT NULL DEFAULT 1,
	input      TEXT,
	output     TEXT,
	error      TEXT    NOT NULL DEFAULT '',
	undo_error TEXT    NOT NULL DEFAULT '',
	started_at TEXT    NOT NULL,
	ended_at   TEXT,
	PRIMARY KEY (upgrade_id, seq)
) WITHOUT ROWID;
`

// migrate creates the schema of a new journal, and refuses a file that is
// not a journal or is newer than this code.
func (j *Journal) migrate(ctx context.Context) error {
	check := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) (int, error) {
		var app, ver int
		if err := q.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
			return 0, err
		}
		if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
			return 0, err
		}
		if app != 0 && app != applicationID {
			return 0, fmt.Errorf("not a ten-upgrade journal (application_id %#x): move it away or choose another state directory", app)
		}
		if ver > schemaVersion {
			return 0, fmt.Errorf("journal schema version %d is newer than this ten-upgrade knows (%d): use the newer ten-upgrade that wrote it", ver, schemaVersion)
		}
		return ver, nil
	}
	ver, err := check(j.db)
	if err != nil || ver == schemaVersion {
		return err
	}
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Another process may have created the schema while we waited.
	if ver, err = check(tx); err != nil || ver == schemaVersion {
		return err
	}
	if ver == 0 {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			return errors.New("not a ten-upgrade journal (it has tables but no schema version): move it away or choose another state directory")
		}
		if _, err := tx.ExecContext(ctx, schemaV1); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", applicationID, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// timeFormat is fixed-width, so that the text columns sort by time and read
// well in the sqlite3 shell.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func (j *Journal) stamp() string { return fmtTime(j.now()) }

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	return time.Parse(timeFormat, s.String)
}

// marshal encodes v for a JSON column: nil stays NULL, json.RawMessage and
// []byte are taken as JSON text and checked.
func marshal(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if v == nil {
			return nil, nil
		}
		if !json.Valid(v) {
			return nil, errors.New("invalid JSON")
		}
		return string(v), nil
	case []byte:
		if v == nil {
			return nil, nil
		}
		if !json.Valid(v) {
			return nil, errors.New("invalid JSON")
		}
		return string(v), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	return string(b), nil
}

func raw(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

// Begin records a new upgrade in state running and returns its id. The
// caller holds the lock. It refuses with an *UnfinishedError (errors.Is
// ErrUnfinished) while another upgrade is unsettled. u.State, u.ID and
// u.EndedAt are ignored; a zero u.StartedAt means now.
func (j *Journal) Begin(ctx context.Context, u Upgrade) (int64, error) {
	params, err := marshal(u.Params)
	if err != nil {
		return 0, fmt.Errorf("begin upgrade: params: %w", err)
	}
	started := j.stamp()
	if !u.StartedAt.IsZero() {
		started = fmtTime(u.StartedAt)
	}
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin upgrade: %w", err)
	}
	defer tx.Rollback()
	if open, err := scanUpgrade(tx.QueryRowContext(ctx, selectUpgrade+` WHERE state IN `+unsettledSQL+` ORDER BY id DESC LIMIT 1`)); err == nil {
		return 0, &UnfinishedError{ID: open.ID, From: open.From, To: open.To, State: open.State}
	} else if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("begin upgrade: %w", err)
	}
	var id int64
	err = tx.QueryRowContext(ctx, `
		INSERT INTO upgrades (from_version, to_version, strategy, state, started_at, failed_requests, point_of_no_return, params)
		VALUES (?, ?, ?, 'running', ?, ?, ?, ?) RETURNING id`,
		u.From, u.To, u.Strategy, started, u.FailedRequests, u.PointOfNoReturn, params).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("begin upgrade: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("begin upgrade: %w", err)
	}
	return id, nil
}

// Reopen puts a finished or interrupted upgrade back in state running, so
// that a crash while it is resumed or rolled back leaves it unsettled. It
// refuses with an *UnfinishedError if another upgrade is unsettled. It does
// nothing to an upgrade that is running.
func (j *Journal) Reopen(ctx context.Context, id int64) error {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("reopen upgrade %d: %w", id, err)
	}
	defer tx.Rollback()
	var state string
	err = tx.QueryRowContext(ctx, `SELECT state FROM upgrades WHERE id = ?`, id).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("reopen upgrade %d: %w", id, ErrNotFound)
	case err != nil:
		return fmt.Errorf("reopen upgrade %d: %w", id, err)
	case state == StateRunning:
		return nil
	}
	other, err := scanUpgrade(tx.QueryRowContext(ctx, selectUpgrade+` WHERE state IN `+unsettledSQL+` AND id != ? LIMIT 1`, id))
	if err == nil {
		return &UnfinishedError{ID: other.ID, From: other.From, To: other.To, State: other.State}
	} else if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("reopen upgrade %d: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE upgrades SET state = 'running', ended_at = NULL WHERE id = ?`, id); err != nil {
		return fmt.Errorf("reopen upgrade %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("reopen upgrade %d: %w", id, err)
	}
	return nil
}

// Unfinished returns the unsettled upgrade (running, interrupted or
// failed) and its steps, or nil if there is none.
func (j *Journal) Unfinished(ctx context.Context) (*Upgrade, []Step, error) {
	return j.one(ctx, selectUpgrade+` WHERE state IN `+unsettledSQL+` ORDER BY id DESC LIMIT 1`)
}

// Last returns the most recent upgrade in state (any state if state is
// empty) and its steps, or nil if there is none; e.g. the last committed
// upgrade, which `ten-upgrade rollback` undoes on request.
func (j *Journal) Last(ctx context.Context, state string) (*Upgrade, []Step, error) {
	if state == "" {
		return j.one(ctx, selectUpgrade+` ORDER BY id DESC LIMIT 1`)
	}
	return j.one(ctx, selectUpgrade+` WHERE state = ? ORDER BY id DESC LIMIT 1`, state)
}

// Get returns the upgrade id and its steps, or an error wrapping
// ErrNotFound.
func (j *Journal) Get(ctx context.Context, id int64) (Upgrade, []Step, error) {
	u, steps, err := j.one(ctx, selectUpgrade+` WHERE id = ?`, id)
	if err != nil {
		return Upgrade{}, nil, err
	}
	if u == nil {
		return Upgrade{}, nil, fmt.Errorf("upgrade %d: %w", id, ErrNotFound)
	}
	return *u, steps, nil
}

// History returns the most recent upgrades, newest first; all of them if
// limit <= 0.
func (j *Journal) History(ctx context.Context, limit int) ([]Upgrade, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := j.db.QueryContext(ctx, selectUpgrade+` ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer rows.Close()
	var out []Upgrade
	for rows.Next() {
		u, err := scanUpgrade(rows)
		if err != nil {
			return nil, fmt.Errorf("read history: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return out, nil
}

// one reads an upgrade and its steps in one read transaction, so that they
// agree with each other while another process writes.
func (j *Journal) one(ctx context.Context, query string, args ...any) (*Upgrade, []Step, error) {
	tx, err := j.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	defer tx.Rollback()
	u, err := scanUpgrade(tx.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	steps, err := readSteps(ctx, tx, u.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("read steps of upgrade %d: %w", u.ID, err)
	}
	return &u, steps, nil
}

const selectUpgrade = `SELECT id, from_version, to_version, strategy, state, started_at, ended_at,
	error, failed_requests, point_of_no_return, params FROM upgrades`

type scanner interface{ Scan(...any) error }

func scanUpgrade(row scanner) (Upgrade, error) {
	var (
		u                Upgrade
		started, ended   sql.NullString
		failed           sql.NullInt64
		params           sql.NullString
		pointOfNoReturn  int
		errStart, errEnd error
	)
	if err := row.Scan(&u.ID, &u.From, &u.To, &u.Strategy, &u.State, &started, &ended,
		&u.Error, &failed, &pointOfNoReturn, &params); err != nil {
		return Upgrade{}, err
	}
	u.StartedAt, errStart = parseTime(started)
	u.EndedAt, errEnd = parseTime(ended)
	if err := errors.Join(errStart, errEnd); err != nil {
		return Upgrade{}, fmt.Errorf("upgrade %d: %w", u.ID, err)
	}
	if failed.Valid {
		n := int(failed.Int64)
		u.FailedRequests = &n
	}
	u.PointOfNoReturn = pointOfNoReturn != 0
	u.Params = raw(params)
	return u, nil
}

func readSteps(ctx context.Context, tx *sql.Tx, id int64) ([]Step, error) {
	rows, err := tx.QueryContext(ctx, `SELECT upgrade_id, seq, name, state, attempts, input, output,
		error, undo_error, started_at, ended_at FROM steps WHERE upgrade_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var steps []Step
	for rows.Next() {
		var (
			s                Step
			in, out          sql.NullString
			started, ended   sql.NullString
			errStart, errEnd error
		)
		if err := rows.Scan(&s.UpgradeID, &s.Seq, &s.Name, &s.State, &s.Attempts, &in, &out,
			&s.Error, &s.UndoError, &started, &ended); err != nil {
			return nil, err
		}
		s.Input, s.Output = raw(in), raw(out)
		s.StartedAt, errStart = parseTime(started)
		s.EndedAt, errEnd = parseTime(ended)
		if err := errors.Join(errStart, errEnd); err != nil {
			return nil, fmt.Errorf("step %d: %w", s.Seq, err)
		}
		steps = append(steps, s)
	}
	return steps, rows.Err()
}

// StepStarted records that the step name of upgrade id is about to run,
// with its input (anything json.Marshal takes; nil for none), and returns
// its sequence number. Call it before the action: once it returns, a crash
// leaves the step recorded as started. The upgrade must be running.
func (j *Journal) StepStarted(ctx context.Context, id int64, name string, input any) (int, error) {
	in, err := marshal(input)
	if err != nil {
		return 0, fmt.Errorf("journal step %q of upgrade %d: input: %w", name, id, err)
	}
	var seq int
	err = j.db.QueryRowContext(ctx, `
		INSERT INTO steps (upgrade_id, seq, name, state, input, started_at)
		SELECT id, (SELECT coalesce(max(seq), 0) + 1 FROM steps WHERE upgrade_id = upgrades.id), ?, 'started', ?, ?
		FROM upgrades WHERE id = ? AND state = 'running'
		RETURNING seq`, name, in, j.stamp(), id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, j.notRunning(ctx, id, fmt.Sprintf("journal step %q", name))
	}
	if err != nil {
		return 0, fmt.Errorf("journal step %q of upgrade %d: %w", name, id, err)
	}
	return seq, nil
}

// notRunning explains why a step of upgrade id cannot be written.
func (j *Journal) notRunning(ctx context.Context, id int64, op string) error {
	var state string
	err := j.db.QueryRowContext(ctx, `SELECT state FROM upgrades WHERE id = ?`, id).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: upgrade %d: %w", op, id, ErrNotFound)
	case err != nil:
		return fmt.Errorf("%s: upgrade %d: %w", op, id, err)
	}
	return fmt.Errorf("%s: upgrade %d is %s, not running (Reopen it first)", op, id, state)
}

// StepRestarted records that step seq, found started after a crash and
// undone, is about to run again: it is started once more, with one more
// attempt and a new start time.
func (j *Journal) StepRestarted(ctx context.Context, id int64, seq int) error {
	return j.setStep(ctx, id, seq, "restart", `state = 'started', attempts = attempts + 1, started_at = ?, ended_at = NULL, error = ''`,
		[]any{j.stamp()}, StepStarted)
}

// StepDone records that step seq succeeded with output (anything
// json.Marshal takes; nil for none). The step must be started.
func (j *Journal) StepDone(ctx context.Context, id int64, seq int, output any) error {
	out, err := marshal(output)
	if err != nil {
		return fmt.Errorf("journal step %d of upgrade %d: output: %w", seq, id, err)
	}
	return j.setStep(ctx, id, seq, "done", `state = 'done', output = ?, ended_at = ?`,
		[]any{out, j.stamp()}, StepStarted)
}

// StepFailed records that step seq failed with err. The step must be
// started.
func (j *Journal) StepFailed(ctx context.Context, id int64, seq int, err error) error {
	return j.setStep(ctx, id, seq, "failed", `state = 'failed', error = ?, ended_at = ?`,
		[]any{errText(err), j.stamp()}, StepStarted)
}

// UndoStarted records that the undo of step seq is about to run. The step
// may be in any state but undone: started and failed steps are undone too,
// since their action may have had part of its effect, and undoing and
// undo_failed ones are undone again.
func (j *Journal) UndoStarted(ctx context.Context, id int64, seq int) error {
	return j.setStep(ctx, id, seq, "undo", `state = 'undoing', undo_error = '', ended_at = NULL`,
		nil, StepStarted, StepDone, StepFailed, StepUndoing, StepUndoFailed)
}

// UndoDone records that the undo of step seq succeeded. The step must be
// undoing.
func (j *Journal) UndoDone(ctx context.Context, id int64, seq int) error {
	return j.setStep(ctx, id, seq, "undone", `state = 'undone', ended_at = ?`,
		[]any{j.stamp()}, StepUndoing)
}

// UndoFailed records that the undo of step seq failed with err. The step
// must be undoing.
func (j *Journal) UndoFailed(ctx context.Context, id int64, seq int, err error) error {
	return j.setStep(ctx, id, seq, "undo failed", `state = 'undo_failed', undo_error = ?, ended_at = ?`,
		[]any{errText(err), j.stamp()}, StepUndoing)
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// setStep updates step seq of upgrade id if it is in one of the states
// from and the upgrade is running, and explains otherwise.
func (j *Journal) setStep(ctx context.Context, id int64, seq int, op, set string, args []any, from ...string) error {
	q := `UPDATE steps SET ` + set + ` WHERE upgrade_id = ? AND seq = ? AND state IN (?` + strings.Repeat(", ?", len(from)-1) + `)
		AND (SELECT state FROM upgrades WHERE id = ?) = 'running'`
	args = append(args, id, seq)
	for _, s := range from {
		args = append(args, s)
	}
	args = append(args, id)
	res, err := j.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("journal %s of step %d of upgrade %d: %w", op, seq, id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var state string
	err = j.db.QueryRowContext(ctx, `SELECT state FROM steps WHERE upgrade_id = ? AND seq = ?`, id, seq).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("journal %s of step %d of upgrade %d: no such step", op, seq, id)
	case err != nil:
		return fmt.Errorf("journal %s of step %d of upgrade %d: %w", op, seq, id, err)
	case !slices.Contains(from, state):
		return fmt.Errorf("journal %s of step %d of upgrade %d: step is %s, want %s", op, seq, id, state, strings.Join(from, " or "))
	}
	return j.notRunning(ctx, id, fmt.Sprintf("journal %s of step %d", op, seq))
}

// MarkPointOfNoReturn records that the new version of upgrade id has
// written data the old schema cannot hold, so that a rollback must restore
// the database backup.
func (j *Journal) MarkPointOfNoReturn(ctx context.Context, id int64) error {
	res, err := j.db.ExecContext(ctx, `UPDATE upgrades SET point_of_no_return = 1 WHERE id = ? AND state = 'running'`, id)
	if err != nil {
		return fmt.Errorf("mark point of no return of upgrade %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return j.notRunning(ctx, id, "mark point of no return")
	}
	return nil
}

// Finish records the outcome of upgrade id: state is committed,
// rolled_back, failed or interrupted (failed and interrupted keep it
// unsettled). errText replaces the recorded error unless empty, so that a
// later rollback keeps the cause of the failure; committing clears it.
// failedRequests is recorded unless nil. The upgrade must be unsettled:
// a committed or rolled back upgrade is reopened with Reopen first.
func (j *Journal) Finish(ctx context.Context, id int64, state string, errText string, failedRequests *int) error {
	switch state {
	case StateCommitted, StateRolledBack, StateFailed, StateInterrupted:
	default:
		return fmt.Errorf("finish upgrade %d: invalid state %q", id, state)
	}
	res, err := j.db.ExecContext(ctx, `
		UPDATE upgrades SET state = ?1, ended_at = ?2,
			error = CASE WHEN ?1 = 'committed' THEN '' WHEN ?3 = '' THEN error ELSE ?3 END,
			failed_requests = coalesce(?4, failed_requests)
		WHERE id = ?5 AND state IN `+unsettledSQL,
		state, j.stamp(), errText, failedRequests, id)
	if err != nil {
		return fmt.Errorf("finish upgrade %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var cur string
		err := j.db.QueryRowContext(ctx, `SELECT state FROM upgrades WHERE id = ?`, id).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("finish upgrade %d: %w", id, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("finish upgrade %d: %w", id, err)
		}
		return fmt.Errorf("finish upgrade %d: it is already %s", id, cur)
	}
	return nil
}
