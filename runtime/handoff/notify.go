// Package handoff moves a running server's listening sockets to its
// successor without closing them, in the nginx / cloudflare tableflip way:
// the old process starts the new binary with the sockets as inherited file
// descriptors, waits until the child says it is ready, then stops accepting
// and drains. It also speaks the two systemd protocols involved, socket
// activation (LISTEN_FDS) and readiness notification (NOTIFY_SOCKET), and
// serves the control socket ten-upgrade talks to.
package handoff

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Notify sends one sd_notify message (e.g. "READY=1") to the service
// manager named by $NOTIFY_SOCKET. Without that variable it does nothing:
// not running under systemd with Type=notify is the common case, not an
// error.
func Notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	// A leading '@' names a Linux abstract socket; net.UnixAddr already
	// understands that spelling.
	addr := &net.UnixAddr{Name: path, Net: "unixgram"}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", path, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %q: %w", state, err)
	}
	return nil
}

// NotifyReady tells systemd the service is up. When pid differs from the
// process systemd started (after a handoff), MAINPID moves supervision to
// the new process so that systemd neither kills it nor thinks the service
// died when the old one exits.
func NotifyReady(pid int) error {
	msg := []string{"READY=1"}
	if pid != 0 {
		msg = append(msg, fmt.Sprintf("MAINPID=%d", pid))
	}
	return Notify(strings.Join(msg, "\n"))
}

// NotifyMainPID tells systemd that pid is now the service's main process.
// The old server sends it for its successor: with NotifyAccess=main
// systemd ignores what any process but the main one says, including the
// successor's own MAINPID.
func NotifyMainPID(pid int) error { return Notify(fmt.Sprintf("MAINPID=%d", pid)) }

// NotifyStopping tells systemd the service is shutting down on purpose.
func NotifyStopping() error { return Notify("STOPPING=1") }
