package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/logs"
)

func TestRequestsAndErrors(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, fmt.Sprintf("%s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), b))
		switch r.URL.Path {
		case "/api/instances/spawn":
			io.WriteString(w, `{"instance":"api:prod","socket":"127.0.0.1:3","port":3}`)
		case "/api/instances/api:prod":
			w.WriteHeader(http.StatusNoContent)
		case "/api/instances/api:prod/weight":
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"weight must be between 0 and 100"}`)
		default:
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html>proxy error</html>")
		}
	}))
	defer srv.Close()
	c := New(srv.URL+"/", "tok")
	ctx := context.Background()

	res, err := c.Spawn(ctx, "api", "prod")
	if err != nil || res.Instance != "api:prod" || res.Port != 3 {
		t.Errorf("spawn: %+v %v", res, err)
	}
	if err := c.Stop(ctx, "api:prod"); err != nil {
		t.Errorf("stop: %v", err)
	}
	_, err = c.SetWeight(ctx, "api:prod", 200)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || err.Error() != "weight must be between 0 and 100" {
		t.Errorf("weight: %v", err)
	}
	_, err = c.List(ctx)
	if !errors.As(err, &ae) || err.Error() != "server returned 502 Bad Gateway" {
		t.Errorf("list: %v", err)
	}
	want := []string{
		`POST /api/instances/spawn Bearer tok {"process":"api","id":"prod"}`,
		`DELETE /api/instances/api:prod Bearer tok `,
		`PUT /api/instances/api:prod/weight Bearer tok {"weight":200}`,
		`GET /api/instances Bearer tok `,
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

func TestConnectionRefusedIsOneClearLine(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, err := New("http://"+addr, "tok").List(context.Background())
	var ce *ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("%T %v", err, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "cannot reach the ten server at http://"+addr) || !strings.Contains(msg, "is `ten serve` running?") {
		t.Errorf("message %q", msg)
	}
}

func TestFollowLogs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "id=prod&level=stderr&process=api" {
			t.Errorf("query %q", r.URL.RawQuery)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, ": connected\n\n")
		io.WriteString(w, `data: {"id":1,"level":"stderr","process":"api","instance_id":"prod","message":"boom"}`+"\n\n")
		io.WriteString(w, ": keep-alive\n\n")
		io.WriteString(w, `data: {"id":2,"level":"stdout","process":"api","instance_id":"prod","message":"ok"}`+"\n\n")
	}))
	defer srv.Close()
	var got []string
	connected := 0
	err := New(srv.URL, "t").FollowLogs(context.Background(), LogQuery{Service: "api", ID: "prod", Level: "stderr", Limit: 5},
		func() { connected++ },
		func(e logs.Entry) error { got = append(got, FormatLogEntry(e)); return nil })
	if err != nil || connected != 1 || strings.Join(got, "|") != "[ERR] api:prod boom|[OUT] api:prod ok" {
		t.Errorf("err %v connected %d got %v", err, connected, got)
	}
}

func TestWritePS(t *testing.T) {
	var b bytes.Buffer
	WritePS(&b, nil)
	if b.String() != "No running instances\n" {
		t.Errorf("empty: %q", b.String())
	}
	b.Reset()
	WritePS(&b, []api.Instance{
		{ID: "api:prod", Listen: "127.0.0.1:30001", UptimeSecs: 7300, IdleSecs: 5, State: "running", Health: "healthy", Weight: 100},
		{ID: "notes:a-long-tenant-name", State: "idle", IdleSecs: 400, Weight: 0},
		{ID: "web:alice", State: "running", Health: "healthy", LastExit: "oom", OOMKills: 1,
			StorageUsedBytes: 24 << 20, StorageQuotaBytes: 5 << 20, StorageOverQuota: true},
	})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[3], " oom ") || !strings.HasSuffix(lines[3], " 24M/5M OVER") ||
		!strings.Contains(lines[0], " LAST EXIT ") || !strings.HasSuffix(lines[1], " 0B") || !strings.HasPrefix(lines[0], "INSTANCE ") || !strings.Contains(lines[1], " 2h ") || !strings.Contains(lines[2], " idle ") {
		t.Fatalf("ps:\n%s", b.String())
	}
	col := strings.Index(lines[0], "LISTEN")
	for _, l := range lines[1:] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("misaligned %q", l)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1K", 1536: "1.5K", 5 << 20: "5M", 24<<20 + 1: "24M", 3<<30 + 300<<20: "3.3G"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for secs, want := range map[int64]string{0: "0s", 59: "59s", 60: "1m", 3599: "59m", 3600: "1h", 86399: "23h", 86400: "1d", 200000: "2d"} {
		if got := FormatDuration(secs); got != want {
			t.Errorf("FormatDuration(%d) = %q, want %q", secs, got, want)
		}
	}
}

func TestSaveAndReadToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := ReadToken(dir); err == nil || !strings.Contains(err.Error(), "ten token-gen") {
		t.Errorf("missing token: %v", err)
	}
	p, err := SaveToken(dir, "ten_abc")
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if _, err := SaveToken(dir, "ten_def"); err != nil {
		t.Fatal(err)
	}
	if tok, err := ReadToken(dir); err != nil || tok != "ten_def" {
		t.Errorf("read %q %v", tok, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("leftover temporary files: %v", ents)
	}
	os.WriteFile(p, []byte("  \n"), 0o600)
	if _, err := ReadToken(dir); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty token: %v", err)
	}
}
