package admin

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tenement/ten/compat"
	"github.com/tenement/ten/migrations"
	"github.com/tenement/ten/runtime/store"
)

// Migrate brings the database at path to this binary's newest schema. With
// dryRun it opens the file read-only and reports what it would apply; a
// missing file is then reported as a fresh database and is not created.
func Migrate(ctx context.Context, path string, dryRun bool) (compat.MigrateReport, error) {
	rep := compat.MigrateReport{Database: path, DryRun: dryRun, Applied: []compat.AppliedMigration{}}
	set := migrations.All()

	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && dryRun {
		rep.To = migrations.Latest()
		rep.Floor = migrations.Floor(set, rep.To)
		for _, m := range set {
			rep.Applied = append(rep.Applied, compat.AppliedMigration{Version: m.Version, Name: m.Name, Kind: string(m.Kind)})
		}
		return rep, nil
	}

	db, err := store.Open(ctx, path, store.Options{ReadOnly: dryRun, NoMigrate: true})
	if err != nil {
		return rep, err
	}
	defer db.Close()

	res, err := migrations.Apply(ctx, db.DB, set, dryRun)
	rep.From, rep.To, rep.Stamped = res.From, res.To, res.Stamped
	for _, m := range res.Applied {
		rep.Applied = append(rep.Applied, compat.AppliedMigration{Version: m.Version, Name: m.Name, Kind: string(m.Kind)})
	}
	if err != nil {
		return rep, fmt.Errorf("migrate %s: %w", path, err)
	}
	if !dryRun {
		st, err := migrations.Inspect(ctx, db.DB)
		if err != nil {
			return rep, fmt.Errorf("migrate %s: %w", path, err)
		}
		rep.Floor = st.Floor
	} else {
		rep.Floor = migrations.Floor(set, rep.To)
	}
	return rep, nil
}
