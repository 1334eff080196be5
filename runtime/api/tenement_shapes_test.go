package api

import (
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/logs"
)

// keysOf returns the JSON object keys of body (the first element of an
// array).
func keysOf(t *testing.T, body string) map[string]any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%q: %v", body, err)
	}
	if a, ok := v.([]any); ok {
		if len(a) == 0 {
			t.Fatalf("empty array %q", body)
		}
		v = a[0]
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not an object: %q", body)
	}
	return m
}

// Every endpoint ten shares with tenement answers at least tenement's
// fields, with tenement's JSON types, so that scripts written against
// tenement keep working. The field lists are tenement's structs:
// cli/src/server.rs (InstanceInfo, HealthResponse) and cli/src/api_routes.rs
// (SpawnResponse, WeightResponse, get_health_check, DeployResponse,
// RouteResponse, ApiError), tenement/src/logs.rs (LogEntry, whose Unix-ms
// "timestamp" ten sends as "timestamp_ms": see LogEntry). Its
// storage_used_bytes and storage_quota_bytes of InstanceInfo come with the
// storage work and are checked there.
func TestResponsesCarryTenementsFields(t *testing.T) {
	f := newFixture(t)
	insertLog(t, f.db, "api", "prod", "stdout", "hello")
	type want map[string]string // field -> JSON type: string, number, bool
	check := func(what, body string, fields want) {
		t.Helper()
		got := keysOf(t, body)
		var missing []string
		for k, typ := range fields {
			v, ok := got[k]
			if !ok {
				missing = append(missing, k)
				continue
			}
			var gotTyp string
			switch v.(type) {
			case string:
				gotTyp = "string"
			case float64:
				gotTyp = "number"
			case bool:
				gotTyp = "bool"
			}
			if gotTyp != typ {
				t.Errorf("%s: %q is %T, tenement sends a %s", what, k, v, typ)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s lacks tenement's fields %v: %s", what, missing, body)
		}
	}
	call := func(method, path, body string, status int) string {
		t.Helper()
		code, out, _ := f.call(t, f.admin, method, path, body)
		if code != status {
			t.Fatalf("%s %s: %d %s", method, path, code, out)
		}
		return out
	}
	_, health, _ := f.call(t, "", "GET", "/health", "")
	check("GET /health", health, want{"status": "string"})
	check("POST /api/instances/spawn", call("POST", "/api/instances/spawn", `{"process":"api","id":"prod"}`, 200),
		want{"instance": "string", "socket": "string", "port": "number"})
	check("GET /api/instances", call("GET", "/api/instances", "", 200),
		want{"id": "string", "socket": "string", "uptime_secs": "number", "idle_secs": "number", "restarts": "number", "health": "string", "weight": "number"})
	check("POST .../restart", call("POST", "/api/instances/api:prod/restart", "", 200),
		want{"instance": "string", "socket": "string", "port": "number"})
	check("PUT .../weight", call("PUT", "/api/instances/api:prod/weight", `{"weight":50}`, 200),
		want{"instance": "string", "weight": "number"})
	check("GET .../health", call("GET", "/api/instances/api:prod/health", "", 200),
		want{"instance": "string", "health": "string"})
	check("POST /api/deploy", call("POST", "/api/deploy", `{"process":"api","version":"v2"}`, 200),
		want{"instance": "string", "socket": "string", "weight": "number", "status": "string"})
	check("POST /api/route", call("POST", "/api/route", `{"process":"api","from":"prod","to":"v2"}`, 200),
		want{"from_instance": "string", "to_instance": "string", "from_weight": "number", "to_weight": "number"})
	check("GET /api/logs", call("GET", "/api/logs", "", 200),
		want{"timestamp_ms": "number", "level": "string", "process": "string", "instance_id": "string", "message": "string"})
	check("an error", call("GET", "/api/instances/nope/health", "", 400), want{"error": "string"})
	// DELETE answers 204 with no body (api_routes.rs delete_instance).
	if code, body, _ := f.call(t, f.admin, "DELETE", "/api/instances/api:prod", ""); code != 204 || body != "" {
		t.Errorf("DELETE: %d %q, want 204 and no body", code, body)
	}
}

// The log entry keeps ten's RFC 3339 "timestamp" (every `ten` CLI reads it
// so; changing its type would be an API major) and adds tenement's Unix
// milliseconds as "timestamp_ms".
func TestLogEntryKeepsTimestampAndAddsMilliseconds(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 123456000, time.UTC)
	b, err := json.Marshal(NewLogEntry(logs.Entry{Timestamp: at}))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["timestamp"] != "2026-05-01T12:00:00.123456Z" || m["timestamp_ms"] != float64(at.UnixMilli()) {
		t.Errorf("%s", b)
	}
	// What the CLI of the current release decodes the answer into.
	var old logs.Entry
	if err := json.Unmarshal(b, &old); err != nil || !old.Timestamp.Equal(at) {
		t.Errorf("a logs.Entry reader gets %v, %v", old.Timestamp, err)
	}
}
