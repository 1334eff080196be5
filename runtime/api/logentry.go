package api

import (
	"time"

	"github.com/tenement/ten/runtime/logs"
)

// LogEntry is one element of GET /api/logs and the data of one event of
// GET /api/logs/stream. It has the fields of tenement's LogEntry
// (tenement/src/logs.rs: timestamp, level, process, instance_id, message)
// and ten's entry id.
//
// tenement's "timestamp" is Unix milliseconds; ten's has always been an RFC
// 3339 string, and the `ten` CLI of every release reads it as one. Changing
// its type would be an incompatible API change (a new API major, which
// ten-upgrade refuses without --allow-major), so "timestamp" stays the
// string and tenement's number is sent as "timestamp_ms".
type LogEntry struct {
	ID          int64     `json:"id"`
	Timestamp   time.Time `json:"timestamp"`
	TimestampMS int64     `json:"timestamp_ms"`
	Level       string    `json:"level"` // stdout or stderr
	Process     string    `json:"process"`
	InstanceID  string    `json:"instance_id"`
	Message     string    `json:"message"`
}

// NewLogEntry is the API form of e.
func NewLogEntry(e logs.Entry) LogEntry {
	return LogEntry{
		ID: e.ID, Timestamp: e.Timestamp, TimestampMS: e.Timestamp.UnixMilli(),
		Level: e.Level, Process: e.Service, InstanceID: e.InstanceID, Message: e.Message,
	}
}

// Entry is the log entry the API form describes.
func (e LogEntry) Entry() logs.Entry {
	return logs.Entry{ID: e.ID, Timestamp: e.Timestamp, Level: e.Level, Service: e.Process, InstanceID: e.InstanceID, Message: e.Message}
}
