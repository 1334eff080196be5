package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tenement/ten/runtime/logs"
)

// LogEntry is one element of GET /api/logs and the data of one event of
// GET /api/logs/stream. Its fields are tenement's LogEntry
// (tenement/src/logs.rs: timestamp in Unix milliseconds, level, process,
// instance_id, message); ten adds the entry's id and "time", the same
// instant in RFC 3339 with the full precision ten records.
//
// ten up to this release sent "timestamp" as an RFC 3339 string. Clients
// built from this package read both forms (see LogTime), so a new `ten`
// CLI reads an old server's logs; an old CLI cannot read a new server's
// numeric timestamp.
type LogEntry struct {
	ID         int64   `json:"id"`
	Timestamp  LogTime `json:"timestamp"`
	Time       string  `json:"time,omitempty"`
	Level      string  `json:"level"` // stdout or stderr
	Process    string  `json:"process"`
	InstanceID string  `json:"instance_id"`
	Message    string  `json:"message"`
}

// LogTime is a log entry's instant: written as Unix milliseconds, as
// tenement; read from milliseconds or from an RFC 3339 string.
type LogTime struct{ time.Time }

func (t LogTime) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprint(t.UnixMilli())), nil
}

func (t *LogTime) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("timestamp %q: %w", s, err)
		}
		t.Time = v
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var ms int64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("timestamp %s: want Unix milliseconds or an RFC 3339 string", b)
	}
	t.Time = time.UnixMilli(ms).UTC()
	return nil
}

// NewLogEntry is the API form of e.
func NewLogEntry(e logs.Entry) LogEntry {
	return LogEntry{
		ID: e.ID, Timestamp: LogTime{e.Timestamp}, Time: e.Timestamp.UTC().Format(time.RFC3339Nano),
		Level: e.Level, Process: e.Service, InstanceID: e.InstanceID, Message: e.Message,
	}
}

// Entry is the log entry the API form describes, at the best precision it
// carries ("time" when present).
func (e LogEntry) Entry() logs.Entry {
	ts := e.Timestamp.Time
	if t, err := time.Parse(time.RFC3339Nano, e.Time); err == nil {
		ts = t
	}
	return logs.Entry{ID: e.ID, Timestamp: ts, Level: e.Level, Service: e.Process, InstanceID: e.InstanceID, Message: e.Message}
}
