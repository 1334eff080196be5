package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/runtime/admin"
	"github.com/tenement/ten/runtime/handoff"
	"github.com/tenement/ten/runtime/supervisor"
	"github.com/tenement/ten/version"
)

// server is one running `ten serve` process after start-up: what shutdown,
// the control socket and a handoff need to reach.
type server struct {
	opts    Options
	log     *slog.Logger
	http    *http.Server
	sup     *supervisor.Supervisor
	ln      net.Listener
	id      string
	schema  int
	started time.Time

	conns     *clientConns
	tls       *tlsFront     // nil without TLS
	upgrading sync.Mutex    // one handoff at a time
	handedOff chan struct{} // closed once a successor serves our sockets
	once      sync.Once
}

// announceReady tells whoever waits for this server that it serves: the
// parent that handed us its sockets, and systemd. After a handoff systemd
// must learn the new main pid, or it would take the old one's exit for the
// service's death.
func (s *server) announceReady() {
	in := s.opts.Inherited
	if err := in.Ready(); err != nil {
		s.log.Warn("could not signal ready to the previous server", "err", err)
	}
	pid := 0
	if in != nil && in.ParentPID != 0 {
		pid = os.Getpid()
	}
	if err := handoff.NotifyReady(pid); err != nil {
		s.log.Warn("sd_notify READY failed", "err", err)
	}
}

// shutdown is the one place the stopping order lives. With a live
// successor (a new server started beside this one on the same data
// directory) the supervisor lease goes to it first, so tenants keep running
// and stay supervised; then in-flight requests drain; then, only when no
// successor took over, the tenants are stopped.
func (s *server) shutdown() error {
	if err := handoff.NotifyStopping(); err != nil {
		s.log.Warn("sd_notify STOPPING failed", "err", err)
	}
	keep := s.opts.KeepTenants
	if succ, err := s.sup.HandOver(context.Background()); err == nil {
		s.log.Info("handed supervision to successor; tenants keep running", "successor", succ)
		keep = true
	} else if !errors.Is(err, supervisor.ErrNoSuccessor) {
		s.log.Warn("hand-over failed; stopping as the only server", "err", err)
	}
	return s.drainAndStop(keep)
}

// exitAfterHandoff ends this process once a new binary serves our sockets:
// stop accepting (the successor holds its own copy of each socket, so
// nothing is refused), give it the lease, drain, leave tenants running.
func (s *server) exitAfterHandoff() error {
	if succ, err := s.sup.HandOver(context.Background()); err != nil {
		// The successor will still take the lease over once we are gone:
		// our pid dies and the lease is free.
		s.log.Warn("lease hand-over after handoff failed", "err", err)
	} else {
		s.log.Info("handed supervision to the new server", "successor", succ)
	}
	return s.drainAndStop(true)
}

func (s *server) drainAndStop(keepTenants bool) error {
	timeout := s.opts.DrainTimeout
	s.log.Info("shutting down: draining requests", "timeout", timeout, "connections", s.conns.open())
	drainCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	stopWaking := s.stopAccepting()
	s.conns.settle(keepAliveQuiet, keepAliveGrace)
	err := s.http.Shutdown(drainCtx)
	stopWaking()
	if err != nil {
		s.log.Warn("drain timed out; closing remaining connections", "err", err)
		s.http.Close()
	}

	stopCtx, cancelStop := context.WithTimeout(context.Background(), time.Minute)
	defer cancelStop()
	if keepTenants {
		s.log.Info("leaving tenants running")
	} else {
		s.log.Info("stopping tenants")
	}
	var errs []error
	if err := s.sup.Shutdown(stopCtx, !keepTenants); err != nil {
		errs = append(errs, fmt.Errorf("stop tenants: %w", err))
	}
	s.log.Info("stopped")
	return errors.Join(errs...)
}

// wakeAccept guards against an accept loop stuck in a blocking accept(2):
// after a handoff attempt the shared socket was briefly in blocking mode
// (see handoff.Start), and closing a listener waits for its pending accept.
// Until stop is called it connects to addr now and then, which releases
// such an accept; the connection carries no request and is closed at once.
func wakeAccept(addr net.Addr) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		target := addr.String()
		if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			target = net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
		}
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if c, err := net.DialTimeout("tcp", target, 100*time.Millisecond); err == nil {
					c.Close()
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// Status answers the control socket's status request.
func (s *server) Status(context.Context) (handoff.Status, error) {
	exe, _ := os.Executable()
	start, _ := proc.StartTime(os.Getpid())
	return handoff.Status{
		PID:           os.Getpid(),
		ProcStartTime: start,
		ServerID:      s.id,
		Version:       version.Version,
		SchemaVersion: s.schema,
		Executable:    exe,
		Addr:          s.ln.Addr().String(),
		DataDir:       s.opts.Config.Settings.DataDir,
		Supervisor:    s.sup.IsSupervisor(),
		Capabilities:  admin.Capabilities,
		StartedAt:     s.started,
	}, nil
}

// Handoff answers the control socket's handoff request: give the lease to
// a successor and exit after draining, leaving the tenants running.
func (s *server) Handoff(ctx context.Context) error {
	succ, err := s.sup.HandOver(ctx)
	if err != nil {
		return err
	}
	s.log.Info("handed supervision to successor on request", "successor", succ)
	s.once.Do(func() { close(s.handedOff) })
	return nil
}

// Upgrade starts binary as this server's successor with our listening
// socket and returns once it is ready; this process then drains and exits.
// If the new binary fails, it is killed and this server goes on serving.
func (s *server) Upgrade(ctx context.Context, binary string, args []string) (handoff.UpgradeResult, error) {
	if !s.upgrading.TryLock() {
		return handoff.UpgradeResult{}, errors.New("an upgrade of this server is already in progress")
	}
	defer s.upgrading.Unlock()
	select {
	case <-s.handedOff:
		return handoff.UpgradeResult{}, errors.New("this server has already handed over to a successor")
	default:
	}
	filer, ok := s.ln.(handoff.Filer)
	if !ok {
		return handoff.UpgradeResult{}, fmt.Errorf("listener %T cannot be handed over", s.ln)
	}
	if len(args) == 0 {
		args = s.opts.Args
	}
	timeout := s.opts.HandoffTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	listeners := map[string]handoff.Filer{"http": filer}
	if err := s.tls.filers(listeners); err != nil {
		return handoff.UpgradeResult{}, err
	}
	start := time.Now()
	proc, err := handoff.Start(ctx, handoff.Child{Path: binary, Args: args, ReadyTimeout: timeout}, listeners)
	if err != nil {
		s.log.Error("handoff failed; still serving", "binary", binary, "err", err)
		return handoff.UpgradeResult{}, err
	}
	s.log.Info("new server is ready; handing over", "binary", binary, "pid", proc.Pid, "took", time.Since(start))
	if err := handoff.NotifyMainPID(proc.Pid); err != nil {
		s.log.Warn("sd_notify MAINPID failed", "pid", proc.Pid, "err", err)
	}
	s.once.Do(func() { close(s.handedOff) })
	return handoff.UpgradeResult{NewPID: proc.Pid}, nil
}

// reload is SIGUSR2: upgrade in place to whatever binary is installed at
// our own executable's path now.
func (s *server) reload() {
	exe, err := os.Executable()
	if err != nil {
		s.log.Error("reload: cannot find own executable", "err", err)
		return
	}
	s.log.Info("reload requested: handing over to the installed binary", "binary", exe)
	go func() {
		if _, err := s.Upgrade(context.Background(), exe, nil); err != nil {
			s.log.Error("reload failed; still serving", "err", err)
		}
	}()
}
