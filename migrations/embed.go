package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed *.sql
var releaseFS embed.FS

// all is loaded at package initialisation so that a malformed file fails
// every binary and every test at start-up instead of at the first migrate.
// testOnlyFS is nil unless a ten_testmigration_* build tag is set; see
// testonly_*.go.
var all = mustLoad(releaseFS, testOnlyFS)

func mustLoad(release, extra fs.FS) []Migration {
	set, err := loadAll(release, extra)
	if err != nil {
		panic(fmt.Sprintf("ten: embedded migrations: %v", err))
	}
	return set
}

func loadAll(release, extra fs.FS) ([]Migration, error) {
	set, err := Load(release)
	if err != nil {
		return nil, err
	}
	if extra != nil {
		more, err := Load(extra)
		if err != nil {
			return nil, err
		}
		set = append(set, more...)
	}
	if err := Validate(set); err != nil {
		return nil, err
	}
	return set, nil
}

// All returns the migrations embedded in this binary, sorted by version.
// The slice is a copy; callers may modify it.
func All() []Migration { return append([]Migration(nil), all...) }

// Latest returns the newest schema version this binary knows.
func Latest() int { return all[len(all)-1].Version }

// MinSupported returns the oldest schema version this binary can migrate
// from: 0, meaning an empty database or an unversioned tenement v0.2.x one.
func MinSupported() int { return 0 }
