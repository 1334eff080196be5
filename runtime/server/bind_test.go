package server

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/internal/syncbuf"
	"github.com/tenement/ten/runtime/config"
)

func TestExposedWithoutTLS(t *testing.T) {
	tests := []struct {
		addr  net.Addr
		tls   bool
		wants bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, false, false},
		{&net.TCPAddr{IP: net.IPv6loopback}, false, false},
		{&net.TCPAddr{IP: net.IPv4zero}, false, true},
		{&net.TCPAddr{IP: net.IPv6unspecified}, false, true},
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1)}, false, true},
		{&net.TCPAddr{IP: net.IPv4zero}, true, false},
		{&net.UnixAddr{Name: "/run/ten.sock", Net: "unix"}, false, false},
	}
	for _, tt := range tests {
		if got := exposedWithoutTLS(tt.addr, tt.tls); got != tt.wants {
			t.Errorf("exposedWithoutTLS(%v, tls=%v) = %v, want %v", tt.addr, tt.tls, got, tt.wants)
		}
	}
}

// runAt starts Run with bind and returns where it listens and its log.
func runAt(t *testing.T, bind string) (net.Addr, string) {
	t.Helper()
	cfg := config.Default()
	cfg.Settings.DataDir = t.TempDir()
	var logBuf syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Bind: bind, Port: 0, DrainTimeout: time.Second,
			Logger: slog.New(slog.NewTextHandler(&logBuf, nil)),
			Ready:  func(a net.Addr) { ready <- a }})
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v\n%s", err, logBuf.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("not ready:\n%s", logBuf.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	return addr, logBuf.String()
}

// The server sits behind Caddy or nginx: by default it answers loopback
// only, and an explicit wildcard bind without TLS is a logged warning.
func TestRunBindsLoopbackByDefault(t *testing.T) {
	addr, log := runAt(t, "")
	if ip := addr.(*net.TCPAddr).IP; !ip.IsLoopback() {
		t.Errorf("default bind %v, want loopback", addr)
	}
	if strings.Contains(log, "without TLS") {
		t.Errorf("warning on loopback:\n%s", log)
	}
	addr, log = runAt(t, "0.0.0.0")
	if ip := addr.(*net.TCPAddr).IP; !ip.IsUnspecified() {
		t.Errorf("--host 0.0.0.0 bound %v", addr)
	}
	if !strings.Contains(log, "level=WARN msg=\"listening on a non-loopback address without TLS") {
		t.Errorf("no warning for 0.0.0.0 without TLS:\n%s", log)
	}
}
