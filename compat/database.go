package compat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/tenement/ten/internal/sqlitefile"
	"github.com/tenement/ten/migrations"
)

// DatabaseOptions say which database to check and with which binaries.
type DatabaseOptions struct {
	// Path is the production database. It is only ever read, through an
	// online backup.
	Path string
	// WorkDir is a private directory for the copies; the caller removes it.
	WorkDir string
	// Candidate migrates the copy.
	Candidate *Binary
	// Installed is asked whether it can still run on the migrated copy;
	// nil when no installed binary is known.
	Installed *Binary
	// InstalledInfo, when known, gives the installed binary's newest
	// schema, used to cross-check its answer.
	InstalledInfo *VersionInfo
	Logger        *slog.Logger
}

// DatabaseReport is what the database check found. It is part of the
// `ten-upgrade check --json` schema.
type DatabaseReport struct {
	Path    string             `json:"path"`
	Exists  bool               `json:"exists"`
	From    int                `json:"from"`  // schema version of the production database
	To      int                `json:"to"`    // schema version after the candidate's migrations
	Floor   int                `json:"floor"` // compat floor of the migrated database
	Applied []AppliedMigration `json:"applied"`
	Stamped bool               `json:"stamped"` // a tenement v0.2.x database would be adopted
	// IntegrityOK is true when the migrated copy passed PRAGMA
	// integrity_check.
	IntegrityOK bool `json:"integrity_ok"`
	// InstalledCanRun says whether the installed binary accepts the
	// migrated database (its compat floor); nil when that could not be
	// determined.
	InstalledCanRun *bool `json:"installed_can_run"`
	// InstalledError is the installed binary's reason for refusing it.
	InstalledError string `json:"installed_error,omitempty"`
	// OverlapPossible: old and new servers can share the database, so a
	// zero-downtime upgrade (handoff or proxy) is possible.
	OverlapPossible bool `json:"overlap_possible"`
	// RollbackNeedsRestore: going back to the installed binary after the
	// upgrade would need the pre-upgrade database backup restored (and the
	// data written since then lost).
	RollbackNeedsRestore bool `json:"rollback_needs_db_restore"`
}

// NameDatabase copies the production database with SQLite's online backup,
// migrates the copy with the candidate, checks the copy's integrity and asks
// the installed binary whether it still runs on the result. The production
// file is never opened for writing.
func CheckDatabase(ctx context.Context, opts DatabaseOptions) (DatabaseReport, Result) {
	rep := DatabaseReport{Path: opts.Path, Applied: []AppliedMigration{}}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fi, err := os.Stat(opts.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		rep.OverlapPossible = true
		return rep, OK(NameDatabase, fmt.Sprintf("no database at %s yet; the candidate will create one", opts.Path))
	case err != nil:
		return rep, Error(NameDatabase, err.Error())
	case !fi.Mode().IsRegular():
		return rep, Error(NameDatabase, fmt.Sprintf("%s is not a regular file", opts.Path))
	}
	rep.Exists = true

	snapshot := filepath.Join(opts.WorkDir, "snapshot.db")
	how, err := Snapshot(ctx, opts.Path, snapshot)
	if err != nil {
		return rep, Error(NameDatabase, fmt.Sprintf("copy %s: %v", opts.Path, err))
	}
	log.Debug("copied production database", "from", opts.Path, "to", snapshot, "how", how)

	mig, err := opts.Candidate.Migrate(ctx, snapshot, false)
	if err != nil {
		return rep, Error(NameDatabase, fmt.Sprintf("run the candidate's migrate: %v", err))
	}
	rep.From, rep.To, rep.Floor, rep.Stamped = mig.From, mig.To, mig.Floor, mig.Stamped
	if mig.Applied != nil {
		rep.Applied = mig.Applied
	}
	if mig.Error != "" {
		return rep, Fail(NameDatabase, "the candidate cannot migrate a copy of the database: "+mig.Error)
	}
	if err := sqlitefile.IntegrityCheck(ctx, snapshot); err != nil {
		return rep, Fail(NameDatabase, fmt.Sprintf("the migrated copy fails the integrity check: %v", err))
	}
	rep.IntegrityOK = true

	moved := len(mig.Applied) > 0 || mig.Stamped || mig.To != mig.From
	canRun, why := installedCanRun(ctx, opts, snapshot, mig, moved, log)
	rep.InstalledCanRun = canRun
	rep.InstalledError = why
	rep.OverlapPossible = !moved || (canRun != nil && *canRun)
	rep.RollbackNeedsRestore = moved && (canRun == nil || !*canRun)

	what := describeMigration(mig)
	switch {
	case !moved:
		return rep, OK(NameDatabase, fmt.Sprintf("schema %d is current for the candidate; integrity ok; overlap possible, rollback keeps the data", mig.To))
	case canRun == nil:
		return rep, Warn(NameDatabase, fmt.Sprintf("%s; integrity ok; could not ask the installed binary (%s): assuming no overlap, and rollback restores the database backup", what, why))
	case *canRun:
		return rep, OK(NameDatabase, fmt.Sprintf("%s; integrity ok; the installed binary still runs on it: overlap possible, rollback keeps the data", what))
	default:
		return rep, Warn(NameDatabase, fmt.Sprintf("%s; integrity ok; the installed binary cannot run on it (%s): no zero-downtime overlap, and rollback needs the database backup restored", what, why))
	}
}

// installedCanRun asks the installed binary to plan a migration (read-only)
// of a second copy of the migrated database: it accepts a database whose
// compat floor it knows and refuses a newer one. The answer is
// cross-checked with the floor arithmetic; when the two disagree the
// stricter one wins.
func installedCanRun(ctx context.Context, opts DatabaseOptions, migrated string, mig MigrateReport, moved bool, log *slog.Logger) (*bool, string) {
	if !moved {
		return ptr(true), ""
	}
	if mig.Stamped {
		// The installed binary is tenement itself: no ten binary ever
		// sees an unstamped database. Adoption moves tenement's tenant
		// tokens aside (migrations.TenementTenantTokens), so tenement
		// cannot run on the result, whatever it answers.
		return ptr(false), "tenement cannot use a database ten has adopted (its tenant tokens move to " + migrations.TenementTenantTokens + ")"
	}
	byFloor := func() (*bool, string) {
		if opts.InstalledInfo == nil {
			return nil, "no installed binary to ask"
		}
		if ok := mig.Floor <= opts.InstalledInfo.SchemaVersion; ok {
			return ptr(true), ""
		}
		return ptr(false), fmt.Sprintf("it knows schema up to %d; the migrated database needs >= %d", opts.InstalledInfo.SchemaVersion, mig.Floor)
	}
	if opts.Installed == nil {
		return byFloor()
	}
	probe := filepath.Join(opts.WorkDir, "installed-probe.db")
	if err := sqlitefile.BackupFile(ctx, migrated, probe); err != nil {
		return nil, fmt.Sprintf("copy the migrated database: %v", err)
	}
	ans, err := opts.Installed.Migrate(ctx, probe, true)
	if err != nil {
		log.Warn("installed binary could not be asked about the migrated database; using the compat floor", "err", err)
		return byFloor()
	}
	floorOK, floorWhy := byFloor()
	if ans.Error != "" {
		if floorOK != nil && !*floorOK {
			return ptr(false), floorWhy // the same answer, said shorter
		}
		return ptr(false), strings.TrimPrefix(strings.TrimSpace(ans.Error), "migrate "+probe+": ")
	}
	if floorOK != nil && !*floorOK {
		log.Warn("installed binary accepts the migrated database, but its compat floor says it should not; assuming it cannot run", "floor", mig.Floor)
		return floorOK, floorWhy
	}
	return ptr(true), ""
}

// Snapshot copies the database at src to dest (which must not exist)
// without writing anything next to src, and reports how.
//
// A database nobody has open (no -wal, -shm or -journal beside it, as after
// a clean shutdown or for a snapshot in CI) is copied as a file, and the
// copy is kept only if src did not change meanwhile: SQLite would create
// -wal and -shm files even for a read-only connection to a WAL database,
// and leave them behind. A database in use is copied with SQLite's online
// backup (sqlitefile.BackupFile), which reads a consistent snapshot through the
// running server's WAL. Either way the copy passes an integrity check.
func Snapshot(ctx context.Context, src, dest string) (string, error) {
	if quiescent(src) {
		ok, err := copyIfUnchanged(src, dest)
		if err != nil {
			return "", err
		}
		if ok {
			if err := sqlitefile.IntegrityCheck(ctx, dest); err != nil {
				return "", err
			}
			return "file copy", nil
		}
	}
	if err := sqlitefile.BackupFile(ctx, src, dest); err != nil {
		return "", err
	}
	return "online backup", nil
}

// quiescent reports whether no SQLite side file exists next to path.
func quiescent(path string) bool {
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Lstat(path + suffix); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return true
}

// copyIfUnchanged copies src to dest and reports whether src stayed the
// same file, unmodified and without side files, for the whole copy. If not,
// dest is removed and the caller must copy another way.
func copyIfUnchanged(src, dest string) (bool, error) {
	in, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer in.Close()
	before, err := in.Stat()
	if err != nil {
		return false, err
	}
	out, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dest)
		return false, err
	}
	after, err := os.Stat(src)
	if err != nil {
		os.Remove(dest)
		return false, err
	}
	same := os.SameFile(before, after) && before.Size() == after.Size() &&
		before.ModTime().Equal(after.ModTime()) && quiescent(src)
	if !same {
		os.Remove(dest)
	}
	return same, nil
}

func describeMigration(m MigrateReport) string {
	var parts []string
	if m.Stamped {
		parts = append(parts, "adopts the tenement v0.2.x database")
	}
	for _, a := range m.Applied {
		parts = append(parts, fmt.Sprintf("%04d_%s %s", a.Version, a.Name, a.Kind))
	}
	s := fmt.Sprintf("schema %d -> %d", m.From, m.To)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

func ptr[T any](v T) *T { return &v }
