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
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// FileName is the journal's database file inside the state directory.
const FileName = "journal.db"

// BusyTimeout is how long a statement waits for another process's lock on
// journal.db (a concurrent `ten-upgrade status`, say) before failing.
const BusyTimeout = 10 * time.Second

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
