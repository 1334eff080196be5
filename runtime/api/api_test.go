package api

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	_ "modernc.org/sqlite"

	"github.com/tenement/ten/internal/testclock"
	"github.com/tenement/ten/migrations"
	"github.com/tenement/ten/runtime/supervisor"
)

// fakeSup is an in-memory supervisor.
type fakeSup struct {
	mu       sync.Mutex
	services map[string]bool
	insts    map[string]supervisor.Instance
	port     int
}

func newFakeSup(services ...string) *fakeSup {
	f := &fakeSup{services: map[string]bool{}, insts: map[string]supervisor.Instance{}, port: 31000}
	for _, s := range services {
		f.services[s] = true
	}
	return f
}

func (f *fakeSup) Spawn(ctx context.Context, service, id string) (supervisor.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.services[service] {
		return supervisor.Instance{}, fmt.Errorf("spawn %s:%s: %w", service, id, supervisor.ErrUnknownService)
	}
	if _, ok := f.insts[service+":"+id]; ok {
		return supervisor.Instance{}, fmt.Errorf("spawn %s:%s: %w", service, id, supervisor.ErrExists)
	}
	f.port++
	in := supervisor.Instance{
		Service: service, ID: id, PID: 1000 + f.port, Port: f.port, Addr: fmt.Sprintf("127.0.0.1:%d", f.port),
		State: supervisor.StateRunning, Health: supervisor.HealthHealthy, Weight: 100,
		StartedAt: time.Now().Add(-90 * time.Second),
	}
	f.insts[in.Name()] = in
	return in, nil
}

func (f *fakeSup) get(service, id string) (supervisor.Instance, error) {
	in, ok := f.insts[service+":"+id]
	if !ok {
		return in, fmt.Errorf("%s:%s: %w", service, id, supervisor.ErrNotFound)
	}
	return in, nil
}

func (f *fakeSup) Stop(ctx context.Context, service, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(service, id); err != nil {
		return err
	}
	delete(f.insts, service+":"+id)
	return nil
}

func (f *fakeSup) Restart(ctx context.Context, service, id string) (supervisor.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(service, id)
	if err != nil {
		return in, err
	}
	in.Restarts++
	in.PID++
	f.insts[in.Name()] = in
	return in, nil
}

func (f *fakeSup) SetWeight(ctx context.Context, service, id string, w int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(service, id)
	if err != nil {
		return err
	}
	if w < 0 || w > 100 {
		return supervisor.ErrBadWeight
	}
	in.Weight = w
	f.insts[in.Name()] = in
	return nil
}

func (f *fakeSup) List() []supervisor.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []supervisor.Instance{}
	for _, in := range f.insts {
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b supervisor.Instance) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

func (f *fakeSup) Get(service, id string) (supervisor.Instance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.insts[service+":"+id]
	return in, ok
}

func (f *fakeSup) CheckHealth(ctx context.Context, service, id string) (supervisor.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.get(service, id)
}

type fixture struct {
	srv    *httptest.Server
	sup    *fakeSup
	db     *sql.DB
	admin  string
	clock  *testclock.Clock
	cancel context.CancelFunc
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "tenement.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := migrations.Apply(context.Background(), db, migrations.All(), false); err != nil {
		t.Fatal(err)
	}
	return db
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, nil) }

// newFixtureWith lets a test adjust the options before the API is made.
func newFixtureWith(t *testing.T, adjust func(*Options)) *fixture {
	t.Helper()
	db := openDB(t)
	clock := testclock.Stopped(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	sup := newFakeSup("api", "web")
	streams, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	opts := Options{
		Backend:        sup,
		DB:             db,
		Health:         Health{Version: "1.2.3", PID: 42, SchemaVersion: 2, Nonce: "n0nce", ServerID: "srv1"},
		Limiter:        NewLimiter(3, time.Minute, clock.Now),
		FollowInterval: 5 * time.Millisecond,
		KeepAlive:      time.Hour,
		HealthPoll:     time.Millisecond,
		Streams:        streams,
	}
	if adjust != nil {
		adjust(&opts)
	}
	a := New(opts)
	admin, err := a.Tokens().Issue(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, sup: sup, db: db, admin: admin, clock: clock, cancel: cancel}
}

func (f *fixture) call(t *testing.T, token, method, path, body string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func errMsg(t *testing.T, body string) string {
	t.Helper()
	var e Error
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("not an error body: %q", body)
	}
	return e.Error
}

func TestHealthAndMetricsNeedNoToken(t *testing.T) {
	f := newFixture(t)
	code, body, _ := f.call(t, "", "GET", "/health", "")
	var h Health
	json.Unmarshal([]byte(body), &h)
	if code != 200 || h.Status != "ok" || h.Version != "1.2.3" || h.PID != 42 || h.SchemaVersion != 2 || h.Nonce != "n0nce" || h.ServerID != "srv1" || h.Capabilities == nil {
		t.Errorf("health %d %s", code, body)
	}
	f.sup.Spawn(context.Background(), "api", "prod")
	code, body, _ = f.call(t, "", "GET", "/metrics", "")
	if code != 200 || !strings.Contains(body, `tenement_instances{state="running"} 1`) || !strings.Contains(body, "tenement_instances_up 1") {
		t.Errorf("metrics %d:\n%s", code, body)
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	for _, h := range []string{"", "Bearer", "Bearer ", "Basic " + f.admin, f.admin} {
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/instances", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, _ := f.srv.Client().Do(req)
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("Authorization %q: %d", h, resp.StatusCode)
		}
		f.clock.Advance(time.Minute) // keep the limiter out of this test
	}
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/instances", nil)
		req.Header.Set("Authorization", scheme+" "+f.admin)
		resp, _ := f.srv.Client().Do(req)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("scheme %q: %d", scheme, resp.StatusCode)
		}
	}
	if code, _, _ := f.call(t, " "+f.admin, "GET", "/api/instances", ""); code != 401 {
		t.Errorf("token with a leading space accepted: %d", code)
	}
	f.clock.Advance(time.Minute)
	// A new admin token replaces the old one.
	a2, err := NewTokens(f.db, nil).Issue(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if code, _, _ := f.call(t, f.admin, "GET", "/api/instances", ""); code != 401 {
		t.Errorf("old admin token still valid: %d", code)
	}
	if code, _, _ := f.call(t, a2, "GET", "/api/instances", ""); code != 200 {
		t.Errorf("new admin token: %d", code)
	}
	var stored string
	f.db.QueryRow(`SELECT token_hash FROM tenant_tokens WHERE scope='admin'`).Scan(&stored)
	if stored != HashToken(a2) || strings.Contains(stored, a2) {
		t.Errorf("stored %q", stored)
	}
}

func TestInstanceLifecycle(t *testing.T) {
	f := newFixture(t)
	code, body, _ := f.call(t, f.admin, "POST", "/api/instances/spawn", `{"process":"api","id":"prod"}`)
	var sp SpawnResponse
	json.Unmarshal([]byte(body), &sp)
	if code != 200 || sp.Instance != "api:prod" || sp.Port == 0 || sp.Socket != fmt.Sprintf("127.0.0.1:%d", sp.Port) {
		t.Fatalf("spawn %d %s", code, body)
	}
	// Spawning it again is fine, as in tenement.
	if code, body, _ := f.call(t, f.admin, "POST", "/api/instances/spawn", `{"process":"api","id":"prod"}`); code != 200 {
		t.Errorf("respawn %d %s", code, body)
	}

	code, body, _ = f.call(t, f.admin, "GET", "/api/instances", "")
	var list []Instance
	json.Unmarshal([]byte(body), &list)
	if code != 200 || len(list) != 1 || list[0].ID != "api:prod" || list[0].Weight != 100 || list[0].Health != "healthy" || list[0].UptimeSecs < 89 || list[0].Listen == "" {
		t.Errorf("list %d %s", code, body)
	}

	code, body, _ = f.call(t, f.admin, "PUT", "/api/instances/api:prod/weight", `{"weight":25}`)
	if code != 200 || body != `{"instance":"api:prod","weight":25}`+"\n" {
		t.Errorf("weight %d %s", code, body)
	}
	code, body, _ = f.call(t, f.admin, "GET", "/api/instances/api:prod/health", "")
	if code != 200 || !strings.Contains(body, `"health":"healthy"`) {
		t.Errorf("health %d %s", code, body)
	}
	code, body, _ = f.call(t, f.admin, "POST", "/api/instances/api:prod/restart", "")
	if code != 200 || !strings.Contains(body, `"instance":"api:prod"`) {
		t.Errorf("restart %d %s", code, body)
	}
	if code, body, _ := f.call(t, f.admin, "DELETE", "/api/instances/api:prod", ""); code != 204 || body != "" {
		t.Errorf("stop %d %q", code, body)
	}
	var actions []string
	rows, _ := f.db.Query(`SELECT action FROM deploy_log ORDER BY id`)
	for rows.Next() {
		var a string
		rows.Scan(&a)
		actions = append(actions, a)
	}
	rows.Close()
	if strings.Join(actions, ",") != "spawn,spawn,weight,restart,stop" {
		t.Errorf("audit log %v", actions)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	f.sup.Spawn(context.Background(), "api", "prod")
	tests := []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"POST", "/api/instances/spawn", `{"process":"nope","id":"x"}`, 404, `unknown service "nope"`},
		{"POST", "/api/instances/spawn", `{"process":"api","id":"bad id"}`, 400, "invalid instance"},
		{"POST", "/api/instances/spawn", `{"process":"api"}`, 400, `missing field "id"`},
		{"POST", "/api/instances/spawn", `{"process":`, 400, "invalid JSON"},
		{"POST", "/api/instances/spawn", ``, 400, "missing JSON body"},
		{"DELETE", "/api/instances/noseparator", "", 400, "expected service:id"},
		{"DELETE", "/api/instances/api:ghost", "", 404, "instance api:ghost not found"},
		{"PUT", "/api/instances/api:prod/weight", `{"weight":101}`, 400, "between 0 and 100"},
		{"PUT", "/api/instances/api:prod/weight", `{"weight":-1}`, 400, "between 0 and 100"},
		{"PUT", "/api/instances/api:prod/weight", `{"weight":"x"}`, 400, `"weight" must be an integer`},
		{"PUT", "/api/instances/api:prod/weight", `{}`, 400, `missing field "weight"`},
		{"PUT", "/api/instances/api:ghost/weight", `{"weight":5}`, 404, "not found"},
		{"POST", "/api/deploy", `{"process":"nope","version":"v1"}`, 404, "unknown service"},
		{"POST", "/api/deploy", `{"process":"api","version":"v1","weight":300}`, 400, "between 0 and 100"},
		{"POST", "/api/route", `{"process":"api","from":"prod","to":"ghost"}`, 404, "api:ghost not found"},
		{"GET", "/api/logs?level=debug", "", 400, "invalid level"},
		{"GET", "/api/logs?limit=x", "", 400, "invalid limit"},
		{"GET", "/api/nothing", "", 404, "no such API route"},
	}
	for _, tt := range tests {
		code, body, _ := f.call(t, f.admin, tt.method, tt.path, tt.body)
		if code != tt.code {
			t.Errorf("%s %s %s: %d %s, want %d", tt.method, tt.path, tt.body, code, body, tt.code)
			continue
		}
		if msg := errMsg(t, body); !strings.Contains(msg, tt.msg) {
			t.Errorf("%s %s %s: %q lacks %q", tt.method, tt.path, tt.body, msg, tt.msg)
		}
	}
}

func TestDeployAndRoute(t *testing.T) {
	f := newFixture(t)
	f.sup.Spawn(context.Background(), "api", "v1")
	code, body, _ := f.call(t, f.admin, "POST", "/api/deploy", `{"process":"api","version":"v2","weight":10}`)
	var d DeployResponse
	json.Unmarshal([]byte(body), &d)
	if code != 200 || d.Instance != "api:v2" || d.Weight != 10 || d.Status != "healthy" || d.Socket == "" {
		t.Fatalf("deploy %d %s", code, body)
	}
	if in, _ := f.sup.Get("api", "v2"); in.Weight != 10 {
		t.Errorf("weight %d", in.Weight)
	}
	code, body, _ = f.call(t, f.admin, "POST", "/api/route", `{"process":"api","from":"v1","to":"v2"}`)
	if code != 200 || body != `{"from_instance":"api:v1","to_instance":"api:v2","from_weight":0,"to_weight":100}`+"\n" {
		t.Errorf("route %d %s", code, body)
	}
	v1, _ := f.sup.Get("api", "v1")
	v2, _ := f.sup.Get("api", "v2")
	if v1.Weight != 0 || v2.Weight != 100 {
		t.Errorf("weights %d %d", v1.Weight, v2.Weight)
	}
}

func TestTenantTokenScope(t *testing.T) {
	f := newFixture(t)
	alice, err := NewTokens(f.db, nil).Issue(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	f.sup.Spawn(context.Background(), "api", "alice")
	f.sup.Spawn(context.Background(), "api", "bob")
	f.sup.Spawn(context.Background(), "web", "alice")

	_, body, _ := f.call(t, alice, "GET", "/api/instances", "")
	var list []Instance
	json.Unmarshal([]byte(body), &list)
	if len(list) != 2 || list[0].ID != "api:alice" || list[1].ID != "web:alice" {
		t.Errorf("tenant list %s", body)
	}
	forbidden := []struct{ method, path, body string }{
		{"DELETE", "/api/instances/api:bob", ""},
		{"POST", "/api/instances/api:bob/restart", ""},
		{"PUT", "/api/instances/api:bob/weight", `{"weight":1}`},
		{"GET", "/api/instances/api:bob/health", ""},
		{"POST", "/api/instances/spawn", `{"process":"api","id":"carol"}`},
		{"POST", "/api/deploy", `{"process":"api","version":"alice"}`},
		{"POST", "/api/route", `{"process":"api","from":"alice","to":"bob"}`},
		{"GET", "/api/logs?id=bob", ""},
	}
	for _, tt := range forbidden {
		if code, body, _ := f.call(t, alice, tt.method, tt.path, tt.body); code != 403 {
			t.Errorf("%s %s: %d %s, want 403", tt.method, tt.path, code, body)
		}
	}
	if code, body, _ := f.call(t, alice, "POST", "/api/instances/api:alice/restart", ""); code != 200 {
		t.Errorf("own restart %d %s", code, body)
	}
}

func insertLog(t *testing.T, db *sql.DB, service, id, level, msg string) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES (?, ?, ?, ?, ?)`,
		time.Now().UTC().Format(time.RFC3339Nano), level, service, id, msg); err != nil {
		t.Fatal(err)
	}
}

func TestLogsQueryAndStream(t *testing.T) {
	f := newFixture(t)
	insertLog(t, f.db, "api", "alice", "stdout", "hello world")
	insertLog(t, f.db, "api", "alice", "stderr", "boom: disk full")
	insertLog(t, f.db, "api", "bob", "stdout", "hello from bob")
	insertLog(t, f.db, "api", "alice", "stdout", "hello again")

	_, body, _ := f.call(t, f.admin, "GET", "/api/logs?process=api&id=alice&search=hello", "")
	var es []LogEntry
	json.Unmarshal([]byte(body), &es)
	if len(es) != 2 || es[0].Message != "hello world" || es[1].Message != "hello again" {
		t.Errorf("search %s", body)
	}
	_, body, _ = f.call(t, f.admin, "GET", "/api/logs?level=stderr", "")
	if !strings.Contains(body, "disk full") || strings.Contains(body, "hello") {
		t.Errorf("level %s", body)
	}
	_, body, _ = f.call(t, f.admin, "GET", "/api/logs?limit=1", "")
	if json.Unmarshal([]byte(body), &es); len(es) != 1 || es[0].Message != "hello again" {
		t.Errorf("limit %s", body)
	}
	bob, _ := NewTokens(f.db, nil).Issue(context.Background(), "bob")
	_, body, _ = f.call(t, bob, "GET", "/api/logs", "")
	if json.Unmarshal([]byte(body), &es); len(es) != 1 || es[0].InstanceID != "bob" {
		t.Errorf("tenant logs %s", body)
	}

	// Stream: lines logged after the hello arrive; older ones do not.
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/logs/stream?id=alice", nil)
	req.Header.Set("Authorization", "Bearer "+f.admin)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	if line, _ := br.ReadString('\n'); line != ": connected\n" {
		t.Fatalf("hello %q", line)
	}
	insertLog(t, f.db, "api", "bob", "stdout", "not for alice")
	insertLog(t, f.db, "api", "alice", "stdout", "live line")
	var data string
	for data == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		data, _ = strings.CutPrefix(strings.TrimSpace(line), "data: ")
		if !strings.HasPrefix(line, "data: ") {
			data = ""
		}
	}
	var e LogEntry
	if err := json.Unmarshal([]byte(data), &e); err != nil || e.Message != "live line" || e.Process != "api" || e.InstanceID != "alice" {
		t.Errorf("event %q %v", data, err)
	}
	// Shutdown ends open streams.
	f.cancel()
	if _, err := io.ReadAll(br); err != nil {
		t.Errorf("stream did not end cleanly: %v", err)
	}
}

func TestTenementAdminTokenStillWorks(t *testing.T) {
	f := newFixture(t)
	// What tenement's TokenStore stored: Argon2id, PHC format, default
	// parameters of the argon2 crate.
	const token = "V1ZbKcFqHhBq0nT3aRj2r8xG4mS6yU9wL5pE7dC1oIk"
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(token), salt, 2, 19456, 1, 32)
	phc := fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	if _, err := f.db.Exec(`INSERT INTO config (key, value) VALUES ('api_token_hash', ?)`, phc); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second call is served from the cache
		if code, body, _ := f.call(t, token, "GET", "/api/instances", ""); code != 200 {
			t.Fatalf("tenement token: %d %s", code, body)
		}
	}
	if code, _, _ := f.call(t, token+"x", "GET", "/api/instances", ""); code != 401 {
		t.Errorf("wrong tenement token: %d", code)
	}
	// ten token-gen rotates it away.
	if _, err := NewTokens(f.db, nil).Issue(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := f.call(t, token, "GET", "/api/instances", ""); code != 401 {
		t.Errorf("tenement token after rotation: %d", code)
	}
}
