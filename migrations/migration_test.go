package migrations

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"testing"
)

// TestEmbeddedMarkers parses every migration file in the package, the
// test-only ones included, so that a missing or malformed marker is reported
// by file name even in builds that do not embed that file.
func TestEmbeddedMarkers(t *testing.T) {
	var files []string
	err := fs.WalkDir(os.DirFS("."), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".sql") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d migration files (%v), want the release ones and both test-only ones", len(files), files)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(path.Base(p), b); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestAll(t *testing.T) {
	set := All()
	if err := Validate(set); err != nil {
		t.Fatal(err)
	}
	if got := Latest(); got != set[len(set)-1].Version {
		t.Errorf("Latest() = %d, want %d", got, set[len(set)-1].Version)
	}
	if MinSupported() != 0 {
		t.Errorf("MinSupported() = %d, want 0", MinSupported())
	}
	set[0].Name = "mutated"
	if All()[0].Name == "mutated" {
		t.Error("All returned the package's own slice")
	}

	release := releaseSet(t)
	if len(release) < 2 || release[0].Name != "tenement_v0_2" || release[1].Name != "multi_server" {
		t.Fatalf("release migrations = %v", files(release))
	}
	for i, m := range release {
		if all[i].Checksum != m.Checksum {
			t.Errorf("All()[%d] = %s, want release %s first", i, all[i].File(), m.File())
		}
	}
}

// TestTestOnlyTags checks the test-only migrations parse as the kinds the
// upgrade tests rely on, whether or not this build embeds them.
func TestTestOnlyTags(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		kind Kind
	}{
		{"testonly/expand", KindExpand},
		{"testonly/contract", KindContract},
	} {
		sub, err := fs.Sub(os.DirFS("."), tc.dir)
		if err != nil {
			t.Fatal(err)
		}
		extra, err := Load(sub)
		if err != nil {
			t.Fatalf("%s: %v", tc.dir, err)
		}
		set := append(releaseSet(t), extra...)
		if err := Validate(set); err != nil {
			t.Fatalf("release + %s: %v", tc.dir, err)
		}
		if k := set[len(set)-1].Kind; k != tc.kind {
			t.Errorf("%s: kind %s, want %s", tc.dir, k, tc.kind)
		}
	}
}

func TestParse(t *testing.T) {
	const body = "\nCREATE TABLE t (x);\n"
	tests := []struct {
		name    string
		file    string
		content string
		want    Kind
		wantErr string
	}{
		{"expand", "0007_add_t.sql", "-- ten:migration kind=expand" + body, KindExpand, ""},
		{"contract", "0007_drop_t.sql", "-- ten:migration kind=contract\nDROP TABLE t;\n", KindContract, ""},
		{"crlf and trailing space", "0007_x.sql", "-- ten:migration kind=expand \r\nSELECT 1;", KindExpand, ""},
		{"prose may mention drops", "0007_x.sql", "-- ten:migration kind=expand\n-- we DROP TABLE nothing here\nSELECT 1;", KindExpand, ""},
		{"no marker", "0007_x.sql", "CREATE TABLE t (x);", "", "first line must be"},
		{"marker not first", "0007_x.sql", "\n-- ten:migration kind=expand" + body, "", "first line must be"},
		{"empty file", "0007_x.sql", "", "", "first line must be"},
		{"no kind", "0007_x.sql", "-- ten:migration" + body, "", "no kind"},
		{"bad kind", "0007_x.sql", "-- ten:migration kind=grow" + body, "", "neither"},
		{"unknown field", "0007_x.sql", "-- ten:migration kind=expand risk=low" + body, "", "unknown"},
		{"repeated kind", "0007_x.sql", "-- ten:migration kind=expand kind=contract" + body, "", "repeats"},
		{"glued prefix", "0007_x.sql", "-- ten:migrationkind=expand" + body, "", "first line must be"},
		{"expand that drops", "0007_x.sql", "-- ten:migration kind=expand\nALTER TABLE t DROP COLUMN x;", "", "mark it kind=contract"},
		{"expand that renames", "0007_x.sql", "-- ten:migration kind=expand\nALTER TABLE t RENAME TO u;", "", "mark it kind=contract"},
		{"bad name", "7_x.sql", "-- ten:migration kind=expand" + body, "", "NNNN_name.sql"},
		{"upper case name", "0007_X.sql", "-- ten:migration kind=expand" + body, "", "NNNN_name.sql"},
		{"version zero", "0000_x.sql", "-- ten:migration kind=expand" + body, "", ">= 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.file, []byte(tc.content))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.file) {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != tc.want || m.Version != 7 || m.SQL != tc.content || len(m.Checksum) != 64 {
				t.Errorf("Parse = %+v", m)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	mk := func(v int) Migration { return Migration{Version: v, Name: "m", Kind: KindExpand} }
	tests := []struct {
		name    string
		set     []Migration
		wantErr string
	}{
		{"ok", []Migration{mk(1), mk(2), mk(3)}, ""},
		{"empty", nil, "empty"},
		{"starts at 2", []Migration{mk(2)}, "expected version 1"},
		{"gap", []Migration{mk(1), mk(3)}, "expected version 2"},
		{"duplicate", []Migration{mk(1), mk(1)}, "defined twice"},
		{"unsorted", []Migration{mk(2), mk(1)}, "expected version 1"},
		{"bad kind", []Migration{{Version: 1, Name: "m", Kind: "x"}}, "invalid kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.set)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestFloor(t *testing.T) {
	e, c := KindExpand, KindContract
	set := func(kinds ...Kind) []Migration {
		var s []Migration
		for i, k := range kinds {
			s = append(s, Migration{Version: i + 1, Kind: k})
		}
		return s
	}
	tests := []struct {
		name    string
		set     []Migration
		version int
		want    int
	}{
		{"no schema", set(e, e), 0, 0},
		{"baseline", set(e), 1, 1},
		{"baseline marked contract", set(c), 1, 1},
		{"expands only", set(e, e, e), 3, 1},
		{"contract at 3", set(e, e, c, e, e), 5, 3},
		{"below the contract", set(e, e, c, e, e), 2, 1},
		{"at the contract", set(e, e, c, e, e), 3, 3},
		{"two contracts", set(e, c, e, c, e), 5, 4},
		{"version past the set", set(e, c), 9, 2},
		{"unknown kind counts as contract", []Migration{{Version: 1, Kind: e}, {Version: 2, Kind: "future"}}, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Floor(tc.set, tc.version); got != tc.want {
				t.Errorf("Floor(%d) = %d, want %d", tc.version, got, tc.want)
			}
		})
	}
}

func TestLoadAllRejectsMalformed(t *testing.T) {
	release := os.DirFS(".")
	bad := mapFS(map[string]string{"0003_oops.sql": "CREATE TABLE oops (x);"})
	if _, err := loadAll(release, bad); err == nil || !strings.Contains(err.Error(), "0003_oops.sql") {
		t.Fatalf("loadAll with unmarked file = %v, want an error naming it", err)
	}
	gap := mapFS(map[string]string{"0009_late.sql": "-- ten:migration kind=expand\nSELECT 1;"})
	if _, err := loadAll(release, gap); err == nil || !strings.Contains(err.Error(), "no gaps") {
		t.Fatalf("loadAll with a gap = %v, want a gap error", err)
	}
}
