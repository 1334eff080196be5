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
	"strings"

	"github.com/tenement/ten/internal/fsutil"
	"github.com/tenement/ten/orchestrator/proxy"
)

// proxyStrategy is the classic procedure, automated: the candidate starts
// beside the old server on a spare port and the front proxy (caddy or
// nginx) is switched over to it.
type proxyStrategy struct{}

func (proxyStrategy) name() string   { return StrategyProxy }
func (proxyStrategy) overlaps() bool { return true }

func (proxyStrategy) usable(old *RunningServer, proxyDriver string) error {
	if old == nil {
		return errors.New("the proxy strategy needs a running server")
	}
	if !hasProxy(proxyDriver) {
		return errors.New("the proxy strategy needs a proxy: set proxy = \"caddy\" or \"nginx\" under [upgrade], or pass --proxy")
	}
	return nil
}

// prepare picks the candidate's nonce and a spare port beside the old
// server.
func (proxyStrategy) prepare(p *Params) error {
	p.Nonce = newNonce()
	host := "127.0.0.1"
	if p.Old != nil {
		host = hostOf(dialAddr(p.Old.Addr))
	}
	port, err := freePort(host)
	if err != nil {
		return fmt.Errorf("find a spare port for the new server: %w", err)
	}
	p.Port = port
	return nil
}

// probeURL is the proxy's, when known: the old server's own address would
// not show what clients see.
func (proxyStrategy) probeURL(p *Params) string { return p.Proxy.URL }

func (proxyStrategy) describe(p *Params) PlanStep {
	args := fmt.Sprintf("serve --port %d", p.Port)
	if p.Old != nil {
		if a := strings.Join(serveArgs(p.Old.Args, p.Port), " "); a != "" {
			args = a
		}
	}
	return PlanStep{
		Does: fmt.Sprintf("start the candidate beside %s on port %d with TEN_HEALTH_NONCE, health-gate it (%d answers within %s), switch %s to [new, old], probe through %s, SIGTERM the old server and wait for it to drain, switch %s to [new]",
			oldDescription(p), p.Port, p.HealthChecks, p.HealthTimeout.D(), p.Proxy.Driver, p.Proxy.URL, p.Proxy.Driver),
		Commands: []string{fmt.Sprintf("TEN_HEALTH_NONCE=%s %s %s", p.Nonce, p.Staged, args)},
		Undo:     "start ten " + p.From + " again if it stopped, switch the proxy back to its saved configuration, stop the candidate",
	}
}

// proxyDriver builds the front-proxy driver from the params.
func (u *upgrade) proxyDriver() (proxy.Driver, error) {
	pp := u.p.Proxy
	opts := []proxy.Option{proxy.WithLogger(u.log.With("component", "proxy"))}
	if u.p.Old != nil {
		opts = append(opts, proxy.WithMatch(dialAddr(u.p.Old.Addr)))
	}
	for _, o := range []struct {
		value  string
		option func(string) proxy.Option
	}{
		{pp.AdminURL, proxy.WithAdminURL},
		{pp.Caddyfile, proxy.WithCaddyfile},
		{pp.Include, proxy.WithInclude},
		{pp.NginxConfig, proxy.WithNginxConfig},
		{pp.NginxPrefix, proxy.WithNginxPrefix},
		{pp.NginxPID, proxy.WithPIDFile},
	} {
		if o.value != "" {
			opts = append(opts, o.option(o.value))
		}
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

// switchOver starts the candidate in successor mode beside the old server
// on a spare port; once it passes the health gate, the proxy switches to
// [new, old] (fail-over to the old one), the old server is told to stop
// (it hands supervision to the new one and drains), then the proxy
// switches to [new].
func (proxyStrategy) switchOver(ctx context.Context, u *upgrade) (any, error) {
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
	out.New = s.ServerProc
	oldAddr := dialAddr(old.Addr)
	if err := drv.Switch(ctx, []string{newAddr, oldAddr}); err != nil {
		return nil, fmt.Errorf("switch %s to [%s, %s]: %w", drv.Name(), newAddr, oldAddr, err)
	}
	if err := u.probe(ctx, u.p.Nonce); err != nil {
		return nil, err
	}
	u.say("  %-14s %s routes to %s (fail-over %s); stopping the old server", "", drv.Name(), newAddr, oldAddr)
	if err := u.stop(ctx, *old); err != nil {
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

// undo brings ten From back in front: if the old server still runs, the
// proxy's saved configuration is restored and the candidate stopped; if
// it stopped, ten From is started again on its old address, the proxy
// fails over to it, the candidate stops, and the saved configuration is
// restored.
func (proxyStrategy) undo(ctx context.Context, u *upgrade, out *switchOut) error {
	drv, err := u.proxyDriver()
	if err != nil {
		return err
	}
	ps, err := u.readSnapshot()
	if err != nil {
		return err
	}
	var snap []byte
	if ps != nil {
		snap = ps.Config
	}
	if u.oldProc() == nil {
		return u.stopCandidates(ctx, out)
	}
	if old, serving := u.oldServing(ctx); old != nil {
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
		if !serving {
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
	if len(u.candidates(out)) > 0 {
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

// proxySnapshot is the proxy's state before the switch, kept in a file of
// the state directory for the rollback.
type proxySnapshot struct {
	Upstreams []string `json:"upstreams"`
	Config    []byte   `json:"config"`
}

// readSnapshot reads the proxy's saved state; nil when the switch never
// got as far as saving it.
func (u *upgrade) readSnapshot() (*proxySnapshot, error) {
	b, err := os.ReadFile(u.snapshotPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ps := &proxySnapshot{}
	if err := json.Unmarshal(b, ps); err != nil {
		return nil, fmt.Errorf("read %s: %w", u.snapshotPath(), err)
	}
	return ps, nil
}
