package sqlitefile

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestQueryAll(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	errScan := errors.New("bad row")
	failOn := func(bad string) func(Scanner) (string, error) {
		return func(sc Scanner) (string, error) {
			s, err := scanString(sc)
			if s == bad {
				return "", errScan
			}
			return s, err
		}
	}
	for _, tc := range []struct {
		name    string
		query   string
		scan    func(Scanner) (string, error)
		want    []string
		wantErr string
	}{
		{"rows in order", "SELECT 'a' UNION ALL SELECT 'b'", scanString, []string{"a", "b"}, ""},
		{"no row gives nil", "SELECT 'a' WHERE 0", scanString, nil, ""},
		{"scan error", "SELECT 'a' UNION ALL SELECT 'b'", failOn("b"), nil, "bad row"},
		{"query error", "SELECT FROM", scanString, nil, "syntax error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := QueryAll(context.Background(), db, tc.scan, tc.query)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}
