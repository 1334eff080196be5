package compat

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tenement/ten/internal/sqlitefile"
	"github.com/tenement/ten/internal/testfs"
)

// openDB opens the SQLite file at path with the given URI parameters,
// closed when the test ends.
func openDB(t *testing.T, path, params string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqlitefile.URI(path)+"?"+params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return db
}

// walMode opens a database as a running server does.
const walMode = "_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)"

// newDB creates a database file with one table and one row, closed.
func newDB(t *testing.T, path string) {
	t.Helper()
	db := openDB(t, path, walMode)
	if _, err := db.ExecContext(context.Background(), "CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('first')"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotQuiescent(t *testing.T) {
	prod := t.TempDir()
	src := filepath.Join(prod, "tenement.db")
	newDB(t, src)
	before := testfs.Names(t, prod)
	data, _ := os.ReadFile(src)

	dest := filepath.Join(t.TempDir(), "copy.db")
	how, err := Snapshot(context.Background(), src, dest)
	if err != nil {
		t.Fatal(err)
	}
	if how != "file copy" {
		t.Errorf("how = %q, want a file copy", how)
	}
	if after := testfs.Names(t, prod); !slices.Equal(before, after) {
		t.Errorf("files next to the database: %v -> %v", before, after)
	}
	if now, _ := os.ReadFile(src); string(now) != string(data) {
		t.Error("the source changed")
	}
	if err := sqlitefile.IntegrityCheck(context.Background(), dest); err != nil {
		t.Error(err)
	}
}

func TestSnapshotLive(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "tenement.db")
	newDB(t, src)
	// A running server: its connection stays open and its last commit is
	// only in the WAL.
	live := openDB(t, src, walMode)
	if _, err := live.ExecContext(ctx, "INSERT INTO t VALUES ('in the wal')"); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "copy.db")
	how, err := Snapshot(ctx, src, dest)
	if err != nil {
		t.Fatal(err)
	}
	if how != "online backup" {
		t.Errorf("how = %q, want an online backup", how)
	}
	db := openDB(t, dest, "mode=ro")
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Errorf("rows in the copy = %d (%v), want 2", n, err)
	}
}

// dbRunner answers `migrate` for a candidate and an installed binary.
type dbRunner struct {
	candidate Output
	installed Output
	instErr   error
	calls     []Command
}

func (r *dbRunner) Run(_ context.Context, c Command) (Output, error) {
	r.calls = append(r.calls, c)
	if c.Path == "candidate" {
		return r.candidate, nil
	}
	return r.installed, r.instErr
}

func TestCheckDatabase(t *testing.T) {
	const expand = `{"from":2,"to":3,"floor":1,"applied":[{"version":3,"name":"labels","kind":"expand"}]}`
	const contract = `{"from":2,"to":3,"floor":3,"applied":[{"version":3,"name":"drop_x","kind":"contract"}]}`
	ok := func(s string) Output { return Output{Stdout: []byte(s)} }
	tooNew := Output{ExitCode: 1, Stdout: []byte(`{"from":3,"to":3,"error":"database schema is version 3 (written by a newer ten; it needs a binary that knows schema >= 3)"}`)}
	info2 := &VersionInfo{SchemaVersion: 2}

	tests := []struct {
		name      string
		noDB      bool
		runner    *dbRunner
		info      *VersionInfo
		status    Status
		msg       string
		overlap   bool
		restore   bool
		canRun    *bool
		installed bool // the installed binary was asked
	}{
		{name: "fresh installation", noDB: true, runner: &dbRunner{}, status: StatusOK, msg: "no database", overlap: true},
		{name: "expand", runner: &dbRunner{candidate: ok(expand), installed: ok(`{"from":3,"to":3}`)}, info: info2,
			status: StatusOK, msg: "0003_labels expand", overlap: true, canRun: ptr(true), installed: true},
		{name: "contract", runner: &dbRunner{candidate: ok(contract), installed: tooNew}, info: info2,
			status: StatusWarn, msg: "it knows schema up to 2; the migrated database needs >= 3", restore: true, canRun: ptr(false), installed: true},
		{name: "contract, installed's schema unknown", runner: &dbRunner{candidate: ok(contract), installed: tooNew},
			status: StatusWarn, msg: "needs a binary that knows schema >= 3", restore: true, canRun: ptr(false), installed: true},
		{name: "installed accepts what its floor forbids: the stricter answer wins",
			runner: &dbRunner{candidate: ok(contract), installed: ok(`{"from":3,"to":3}`)}, info: info2,
			status: StatusWarn, msg: "knows schema up to 2", restore: true, canRun: ptr(false), installed: true},
		{name: "installed cannot be asked, floor decides", runner: &dbRunner{candidate: ok(expand), instErr: errors.New("exec format error")}, info: info2,
			status: StatusOK, msg: "overlap possible", overlap: true, canRun: ptr(true), installed: true},
		{name: "nothing known about the installed binary", runner: &dbRunner{candidate: ok(contract), instErr: errors.New("exec format error")},
			status: StatusWarn, msg: "assuming no overlap", restore: true, installed: true},
		{name: "tenement database adopted: tenement cannot run on it (its tenant_tokens move aside)",
			runner: &dbRunner{candidate: ok(`{"from":0,"to":2,"floor":1,"stamped":true,"applied":[{"version":2,"name":"multi_server","kind":"expand"}]}`), installed: ok(`{"from":2,"to":2}`)},
			status: StatusWarn, msg: "tenement cannot use a database ten has adopted", restore: true, canRun: ptr(false)},
		{name: "already current", runner: &dbRunner{candidate: ok(`{"from":2,"to":2,"floor":1,"applied":[]}`)}, info: info2,
			status: StatusOK, msg: "schema 2 is current", overlap: true, canRun: ptr(true)},
		{name: "candidate cannot migrate", runner: &dbRunner{candidate: Output{ExitCode: 1, Stdout: []byte(`{"from":2,"to":2,"error":"apply 0003: no such table"}`)}},
			status: StatusFail, msg: "cannot migrate a copy of the database: apply 0003: no such table"},
		{name: "candidate crashes", runner: &dbRunner{candidate: Output{ExitCode: 2, Stderr: []byte("panic")}},
			status: StatusError, msg: "panic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prod := filepath.Join(t.TempDir(), "tenement.db")
			if !tt.noDB {
				newDB(t, prod)
			}
			rep, res := CheckDatabase(context.Background(), DatabaseOptions{
				Path: prod, WorkDir: t.TempDir(),
				Candidate: &Binary{Path: "candidate", Runner: tt.runner},
				Installed: &Binary{Path: "installed", Runner: tt.runner}, InstalledInfo: tt.info,
			})
			if res.Status != tt.status || res.Check != NameDatabase || !strings.Contains(res.Message, tt.msg) {
				t.Fatalf("result = %+v; want %s containing %q", res, tt.status, tt.msg)
			}
			if res.Status == StatusFail || res.Status == StatusError {
				return
			}
			if rep.OverlapPossible != tt.overlap || rep.RollbackNeedsRestore != tt.restore {
				t.Errorf("overlap %v restore %v, want %v %v", rep.OverlapPossible, rep.RollbackNeedsRestore, tt.overlap, tt.restore)
			}
			if (rep.InstalledCanRun == nil) != (tt.canRun == nil) || (tt.canRun != nil && *rep.InstalledCanRun != *tt.canRun) {
				t.Errorf("installed_can_run = %v, want %v", rep.InstalledCanRun, tt.canRun)
			}
			asked := slices.ContainsFunc(tt.runner.calls, func(c Command) bool { return c.Path == "installed" })
			if asked != tt.installed {
				t.Errorf("installed binary asked: %v, want %v", asked, tt.installed)
			}
			for _, c := range tt.runner.calls {
				if slices.Contains(c.Args, prod) {
					t.Errorf("%s ran on the production database: %v", c.Path, c.Args)
				}
				if c.Path == "installed" && !slices.Contains(c.Args, "--dry-run") {
					t.Errorf("installed binary migrated without --dry-run: %v", c.Args)
				}
			}
		})
	}
}
