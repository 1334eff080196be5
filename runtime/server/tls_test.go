package server

import (
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/handoff"
	"github.com/tenement/ten/runtime/tlsserve"
)

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func accepts(ln net.Listener) bool {
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// A successor started with --tls serves the sockets its parent handed
// over rather than opening new ones; one started without TLS closes them,
// so they do not sit open with nobody answering.
func TestListenTLSInheritedSockets(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	st := &tlsserve.Settings{Domain: "example.test", Host: "127.0.0.1", HTTPSPort: 0, HTTPPort: 0}

	https, redirect := listenLocal(t), listenLocal(t)
	in := &handoff.Inherited{Listeners: map[string]net.Listener{"https": https, "http-redirect": redirect}}
	f, err := listenTLS(Options{TLS: st, Inherited: in}, log)
	if err != nil {
		t.Fatal(err)
	}
	if f.https != https || f.redirect != redirect {
		t.Errorf("inherited sockets not reused: %v %v", f.https.Addr(), f.redirect.Addr())
	}
	m := map[string]handoff.Filer{}
	if err := f.filers(m); err != nil || m["https"] == nil || m["http-redirect"] == nil {
		t.Errorf("filers for the next handoff: %v %v", m, err)
	}

	https, redirect = listenLocal(t), listenLocal(t)
	in = &handoff.Inherited{Listeners: map[string]net.Listener{"https": https, "http-redirect": redirect}}
	f, err = listenTLS(Options{Inherited: in}, log)
	if err != nil || f != nil {
		t.Fatalf("without TLS: %v, %v", f, err)
	}
	for _, ln := range []net.Listener{https, redirect} {
		// An open listener would time out here instead.
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(time.Second))
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("inherited %s still open (accept: %v)", ln.Addr(), err)
		}
	}
}

// Without inherited sockets the TLS listeners are opened on the
// configured host and ports, and a taken port is an error naming the key.
func TestListenTLSOpensPorts(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	f, err := listenTLS(Options{TLS: &tlsserve.Settings{Host: "127.0.0.1"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	if !accepts(f.https) || !accepts(f.redirect) {
		t.Error("TLS listeners do not accept")
	}
	taken := listenLocal(t)
	_, err = listenTLS(Options{TLS: &tlsserve.Settings{Host: "127.0.0.1", HTTPPort: listenerPort(taken)}}, log)
	if err == nil || !containsAll(err.Error(), "http_port", "address already in use") {
		t.Errorf("taken http_port: %v", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
