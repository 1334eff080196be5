package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/tenement/ten/internal/fsutil"
	"github.com/tenement/ten/orchestrator/proxy"
)

// proxyDriver builds the front-proxy driver from the params.
func (u *upgrade) proxyDriver() (proxy.Driver, error) {
	pp := u.p.Proxy
	opts := []proxy.Option{proxy.WithLogger(u.log.With("component", "proxy"))}
	if u.p.Old != nil {
		opts = append(opts, proxy.WithMatch(dialAddr(u.p.Old.Addr)))
	}
	if pp.AdminURL != "" {
		opts = append(opts, proxy.WithAdminURL(pp.AdminURL))
	}
	if pp.Caddyfile != "" {
		opts = append(opts, proxy.WithCaddyfile(pp.Caddyfile))
	}
	if pp.Include != "" {
		opts = append(opts, proxy.WithInclude(pp.Include))
	}
	if pp.NginxConfig != "" {
		opts = append(opts, proxy.WithNginxConfig(pp.NginxConfig))
	}
	if pp.NginxPrefix != "" {
		opts = append(opts, proxy.WithNginxPrefix(pp.NginxPrefix))
	}
	if pp.NginxPID != "" {
		opts = append(opts, proxy.WithPIDFile(pp.NginxPID))
	}
	if len(pp.NginxArgs) > 0 {
		opts = append(opts, proxy.WithNginxArgs(pp.NginxArgs...))
	}
	return proxy.New(pp.Driver, opts...)
}

// snapshotPath is where the proxy's configuration before the switch is
// kept, written before anything changes, for the rollback.
func (u *upgrade) snapshotPath() string {
	return filepath.Join(u.p.StateDir, fmt.Sprintf("proxy-u%d.snapshot", u.id))
}

// newAddr is the candidate's address in the proxy strategy.
func (u *upgrade) newAddr() string {
	host := "127.0.0.1"
	if u.p.Old != nil {
		if h, _, err := net.SplitHostPort(dialAddr(u.p.Old.Addr)); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(u.p.Port))
}

// probe checks, when the proxy's URL is known, that traffic through the
// proxy reaches the server with nonce.
func (u *upgrade) probe(ctx context.Context, nonce string) error {
	if u.p.Proxy.URL == "" {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, u.p.HealthTimeout.D())
	defer cancel()
	return proxy.Probe(pctx, nil, u.p.Proxy.URL, u.p.Proxy.Host, nonce)
}

// switchProxy is the classic procedure, automated: the candidate starts in
// successor mode beside the old server on a spare port, passes the health
// gate, the proxy switches to [new, old] (fail-over to the old one), the
// old server is told to stop (it hands supervision to the new one and
// drains), then the proxy switches to [new].
func (u *upgrade) switchProxy(ctx context.Context) (any, error) {
	old, err := u.currentFrom(ctx)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nil, errors.New("the proxy strategy needs a running server")
	}
	drv, err := u.proxyDriver()
	if err != nil {
		return nil, err
	}
	ups, snap, err := drv.Current(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the %s configuration: %w", drv.Name(), err)
	}
	if !fileExists(u.snapshotPath()) {
		b, err := json.Marshal(proxySnapshot{Upstreams: ups, Config: snap})
		if err == nil {
			err = fsutil.WriteFile(u.snapshotPath(), b, 0o600)
		}
		if err != nil {
			return nil, fmt.Errorf("save the proxy configuration: %w", err)
		}
	}
	out := switchOut{Strategy: u.p.Strategy, Old: old, Upstreams: ups, Snapshot: u.snapshotPath()}

	newAddr := u.newAddr()
	s, err := u.startServer(ctx, u.p.Staged, serveArgs(u.p.Old.Args, u.p.Port), u.p.To, u.p.Nonce, newAddr)
	if err != nil {
		return nil, err
	}
	u.cand = s
	out.New = s.ServerProc
	oldAddr := dialAddr(old.Addr)
	if err := drv.Switch(ctx, []string{newAddr, oldAddr}); err != nil {
		return nil, fmt.Errorf("switch %s to [%s, %s]: %w", drv.Name(), newAddr, oldAddr, err)
	}
	if err := u.probe(ctx, u.p.Nonce); err != nil {
		return nil, err
	}
	u.say("  %-14s %s routes to %s (fail-over %s); stopping the old server", "", drv.Name(), newAddr, oldAddr)
	if err := stopProcess(ctx, *old, u.p.DrainTimeout.D()+10*time.Second); err != nil {
		return nil, fmt.Errorf("stop the old server: %w", err)
	}
	if err := drv.Switch(ctx, []string{newAddr}); err != nil {
		return nil, fmt.Errorf("switch %s to [%s]: %w", drv.Name(), newAddr, err)
	}
	if err := u.probe(ctx, u.p.Nonce); err != nil {
		return nil, err
	}
	return out, nil
}

// unswitchProxy brings ten From back in front: if the old server still
// runs, the proxy's saved configuration is restored and the candidate
// stopped; if it stopped, ten From is started again on its old address,
// the proxy fails over to it, the candidate stops, and the saved
// configuration is restored.
func (u *upgrade) unswitchProxy(ctx context.Context, out *switchOut) error {
	drv, err := u.proxyDriver()
	if err != nil {
		return err
	}
	var ps *proxySnapshot
	if b, err := os.ReadFile(u.snapshotPath()); err == nil {
		ps = &proxySnapshot{}
		if err := json.Unmarshal(b, ps); err != nil {
			return fmt.Errorf("read %s: %w", u.snapshotPath(), err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var snap []byte
	if ps != nil {
		snap = ps.Config
	}
	old := u.oldProc()
	if old == nil {
		return u.stopCandidates(ctx, out)
	}
	if old.Alive() {
		// The old server was never stopped (or is still draining, in which
		// case the candidate must stay until it is gone). A proxy that
		// still routes as before is left alone: a rejected change leaves
		// the previous configuration active.
		if ps != nil {
			if cur, _, err := drv.Current(ctx); err != nil || !slices.Equal(cur, ps.Upstreams) {
				if err := drv.Restore(ctx, snap); err != nil {
					return fmt.Errorf("restore the %s configuration: %w", drv.Name(), err)
				}
			}
		}
		if h, err := getHealth(ctx, old.URL()); err != nil || h.PID != old.PID {
			if err := u.waitOldGone(ctx, *old); err != nil {
				return err
			}
			return u.bringBackFrom(ctx, drv, snap, out)
		}
		return u.stopCandidates(ctx, out)
	}
	return u.bringBackFrom(ctx, drv, snap, out)
}

// bringBackFrom starts ten From on the old server's address beside the
// candidate, moves the proxy to it and stops the candidate.
func (u *upgrade) bringBackFrom(ctx context.Context, drv proxy.Driver, snap []byte, out *switchOut) error {
	oldAddr := dialAddr(u.p.Old.Addr)
	back := ""
	if h, err := getHealth(ctx, "http://"+oldAddr); err == nil && h.Version == u.p.From {
		back = h.Nonce // an earlier, interrupted undo already started it
	} else {
		bin, err := u.binaryOfFrom()
		if err != nil {
			return err
		}
		back = newNonce()
		s, err := u.startServer(ctx, bin, u.p.Old.Args, u.p.From, back, oldAddr)
		if err != nil {
			return fmt.Errorf("start ten %s again: %w", u.p.From, err)
		}
		u.note("ten %s started again beside the candidate (pid %d on %s)", u.p.From, s.PID, oldAddr)
	}
	if cands := u.liveCandidates(out); len(cands) > 0 {
		if err := drv.Switch(ctx, []string{oldAddr, u.newAddr()}); err != nil {
			return fmt.Errorf("switch %s back to [%s, %s]: %w", drv.Name(), oldAddr, u.newAddr(), err)
		}
		if err := u.probe(ctx, back); err != nil {
			return err
		}
		if err := u.stopCandidates(ctx, out); err != nil {
			return err
		}
	}
	if snap != nil {
		if err := drv.Restore(ctx, snap); err != nil {
			return fmt.Errorf("restore the %s configuration: %w", drv.Name(), err)
		}
	} else if err := drv.Switch(ctx, []string{oldAddr}); err != nil {
		return err
	}
	return u.probe(ctx, back)
}

func (u *upgrade) liveCandidates(out *switchOut) []ServerProc {
	var live []ServerProc
	procs := findByNonce(u.p.Nonce)
	if out != nil && out.New.PID != 0 {
		procs = append(procs, out.New)
	}
	for _, p := range procs {
		if p.Alive() {
			live = append(live, p)
		}
	}
	return live
}

// proxySnapshot is the proxy's state before the switch, kept in a file of
// the state directory for the rollback.
type proxySnapshot struct {
	Upstreams []string `json:"upstreams"`
	Config    []byte   `json:"config"`
}
