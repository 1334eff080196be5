package journal

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

// queryer is what a *sql.DB and a *sql.Tx share that the journal needs to
// read one row.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// timeFormat is fixed-width, so that the text columns sort by time and read
// well in the sqlite3 shell.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func (j *Journal) stamp() string { return fmtTime(j.now()) }

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// parseTimes reads the started_at and ended_at columns of a row.
func parseTimes(started, ended sql.NullString) (time.Time, time.Time, error) {
	parse := func(s sql.NullString) (time.Time, error) {
		if !s.Valid || s.String == "" {
			return time.Time{}, nil
		}
		return time.Parse(timeFormat, s.String)
	}
	start, errStart := parse(started)
	end, errEnd := parse(ended)
	return start, end, errors.Join(errStart, errEnd)
}

// marshal encodes v for a JSON column: nil stays NULL, json.RawMessage and
// []byte are taken as JSON text and checked.
func marshal(v any) (any, error) {
	if r, ok := v.(json.RawMessage); ok {
		v = []byte(r)
	}
	switch v := v.(type) {
	case nil:
		return nil, nil
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
