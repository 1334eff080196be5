// Command testapp is a tiny HTTP tenant used by tests of the supervisor,
// the router and the server. It listens on 127.0.0.1:$PORT and serves:
//
//	/health      200 "ok", or 503 while $TESTAPP_UNHEALTHY_FILE exists
//	/            JSON: pid (as the host sees it), ns_pid (as it sees itself),
//	             port, TESTAPP_NAME, method, path, host, headers
//	/env         JSON: its environment, as a list of "KEY=value"
//	/echo        the request body
//	/sse?n=N     N server-sent events ("data: i"), flushed one by one
//	/slow?ms=N   sleeps N ms (or until the client goes away), then 200
//	/crash       exits with status 1 after answering
//	/exit?code=N exits with status N after answering
//	/alloc?mb=N  allocates N MiB more, touches every page and keeps it
//	/write?mb=N&file=F  writes an N MiB file F in its working directory
//
// It writes one line per request to stdout and a start-up line to stderr.
// Environment knobs for tests:
//
//	TESTAPP_NAME            echoed by / so a test can tell instances apart
//	TESTAPP_UNHEALTHY_FILE  /health fails while this file exists
//	TESTAPP_UNHEALTHY_STATUS the status it then answers (default 503)
//	TESTAPP_STARTUP_DELAY   e.g. "300ms": wait before listening
//	TESTAPP_IGNORE_TERM     "1": ignore SIGTERM (tests of SIGKILL escalation)
//	TESTAPP_PIDFILE         write the pid here once listening
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tenement/ten/internal/proc"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		log.Fatal("testapp: PORT is not set")
	}
	fmt.Fprintf(os.Stderr, "testapp starting pid=%d port=%s name=%s\n", hostPID(), port, os.Getenv("TESTAPP_NAME"))

	if os.Getenv("TESTAPP_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	if d, err := time.ParseDuration(os.Getenv("TESTAPP_STARTUP_DELAY")); err == nil {
		time.Sleep(d)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "testapp: listen: %v\n", err)
		os.Exit(2)
	}
	if p := os.Getenv("TESTAPP_PIDFILE"); p != "" {
		if err := os.WriteFile(p, []byte(strconv.Itoa(hostPID())), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "testapp: pidfile: %v\n", err)
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/health", health)
	mux.HandleFunc("/", info)
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(os.Environ())
	})
	mux.HandleFunc("/sse", sse)
	mux.HandleFunc("/slow", slow)
	mux.HandleFunc("/crash", exitWith(1))
	mux.HandleFunc("/alloc", alloc)
	mux.HandleFunc("/write", writeFile)
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		exitWith(code)(w, r)
	})

	srv := &http.Server{Handler: logRequests(mux), ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintf(os.Stderr, "testapp: serve: %v\n", err)
		os.Exit(2)
	}
}

// held keeps what /alloc allocated reachable, so that it stays resident.
var (
	heldMu sync.Mutex
	held   [][]byte
)

func alloc(w http.ResponseWriter, r *http.Request) {
	mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
	if err != nil || mb <= 0 {
		http.Error(w, "want ?mb=N", http.StatusBadRequest)
		return
	}
	heldMu.Lock()
	defer heldMu.Unlock()
	for range mb {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1 // touch every page: resident, not just reserved
		}
		held = append(held, b)
	}
	fmt.Fprintf(w, "holding %d MiB\n", len(held))
}

func writeFile(w http.ResponseWriter, r *http.Request) {
	mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
	name := r.URL.Query().Get("file")
	if err != nil || mb <= 0 || name == "" || strings.ContainsAny(name, "/\\") {
		http.Error(w, "want ?mb=N&file=NAME", http.StatusBadRequest)
		return
	}
	if err := os.WriteFile(name, bytes.Repeat([]byte{'x'}, mb<<20), 0o600); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "wrote %d MiB to %s\n", mb, name)
}

func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("request %s %s host=%s\n", r.Method, r.URL.RequestURI(), r.Host)
		h.ServeHTTP(w, r)
	})
}

// hostPID is the pid the supervisor knows this process by. Under namespace
// isolation (ten's default) os.Getpid is 1, the pid inside its own PID
// namespace, and a test that signalled "the tenant's pid" would signal
// pid 1 or, as a group, every process. The tenant still sees the host's
// /proc (ten mounts no new one), whose /proc/self names the host pid.
func hostPID() int {
	if pid, err := proc.HostPID(); err == nil {
		return pid
	}
	return os.Getpid()
}

func health(w http.ResponseWriter, r *http.Request) {
	if f := os.Getenv("TESTAPP_UNHEALTHY_FILE"); f != "" {
		if _, err := os.Stat(f); err == nil {
			status := http.StatusServiceUnavailable
			if n, err := strconv.Atoi(os.Getenv("TESTAPP_UNHEALTHY_STATUS")); err == nil {
				status = n
			}
			http.Error(w, "unhealthy", status)
			return
		}
	}
	io.WriteString(w, "ok\n")
}

func info(w http.ResponseWriter, r *http.Request) {
	wd, _ := os.Getwd()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"pid":     hostPID(),
		"ns_pid":  os.Getpid(),
		"port":    os.Getenv("PORT"),
		"name":    os.Getenv("TESTAPP_NAME"),
		"workdir": wd,
		"method":  r.Method,
		"path":    r.URL.Path,
		"query":   r.URL.RawQuery,
		"host":    r.Host,
		"headers": r.Header,
	})
}

func echo(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	io.Copy(w, r.Body)
}

func sse(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n <= 0 {
		n = 3
	}
	interval, err := time.ParseDuration(r.URL.Query().Get("interval"))
	if err != nil {
		interval = 10 * time.Millisecond
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := range n {
		if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if i < n-1 {
			select {
			case <-time.After(interval):
			case <-r.Context().Done():
				return
			}
		}
	}
}

func slow(w http.ResponseWriter, r *http.Request) {
	ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		fmt.Fprintf(w, "slept %dms\n", ms)
	case <-r.Context().Done():
	}
}

// exitWith answers first, so the client sees a response, then exits: a
// test of crash handling wants the process gone, not a broken request.
func exitWith(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "exiting %d\n", code)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		fmt.Fprintf(os.Stderr, "testapp exiting with %d\n", code)
		go func() {
			time.Sleep(10 * time.Millisecond)
			os.Exit(code)
		}()
	}
}
