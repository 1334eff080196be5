package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tenement/ten/runtime/config"
)

// Upgrade strategies: the values of --strategy and of [upgrade] strategy.
// ten-upgrade owns this vocabulary; ten only stores the key.
const (
	StrategyAuto    = "auto"
	StrategyHandoff = "handoff"
	StrategyProxy   = "proxy"
	StrategyRestart = "restart"
)

// StrategyNames are the accepted strategy names, in the order they are
// listed in messages.
var StrategyNames = []string{StrategyAuto, StrategyHandoff, StrategyProxy, StrategyRestart}

// strategy is how the switch step replaces the running ten with the new
// one. An upgrade's strategy is recorded by name in its journal and found
// again by strategyNamed, so every method works from the params and the
// journal alone.
type strategy interface {
	// name is the strategy's name in the journal and the reports.
	name() string
	// usable says why the strategy cannot switch from old (nil when no
	// server runs) with the proxy driver configured; nil if it can.
	usable(old *RunningServer, proxyDriver string) error
	// overlaps says whether the old and the new server run at the same
	// time, which needs a database both can use.
	overlaps() bool
	// prepare fills in what the switch needs chosen beforehand (a nonce, a
	// port), so that a rollback after a crash finds what it started.
	prepare(p *Params) error
	// describe is the switch step of the plan.
	describe(p *Params) PlanStep
	// probeURL is where clients reach ten during the switch; "" for
	// nowhere known.
	probeURL(p *Params) string
	// switchOver runs the switch; its output is a switchOut.
	switchOver(ctx context.Context, u *upgrade) (any, error)
	// undo puts ten From back; out is nil when the switch did not finish.
	undo(ctx context.Context, u *upgrade, out *switchOut) error
}

// strategies are the implementations, in the order auto prefers them.
var strategies = []strategy{handoffStrategy{}, proxyStrategy{}, restartStrategy{}}

// strategyNamed is the strategy recorded as name.
func strategyNamed(name string) (strategy, error) {
	for _, s := range strategies {
		if s.name() == name {
			return s, nil
		}
	}
	return nil, unknownStrategy(name)
}

// unknownStrategy is the error for a name that is not a strategy.
func unknownStrategy(name string) error {
	return fmt.Errorf("unknown strategy %q: want %s", name, orList(StrategyNames))
}

// checkStrategyName refuses a strategy name that is none of StrategyNames;
// key says where it was given.
func checkStrategyName(key, name string) error {
	for _, n := range StrategyNames {
		if n == name {
			return nil
		}
	}
	quoted := make([]string, len(StrategyNames))
	for i, n := range StrategyNames {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return fmt.Errorf("%s: unsupported value %q; supported values are %s", key, name, joinList(quoted, "and"))
}

// configStrategyError reports an [upgrade] strategy that is no strategy,
// the way `ten config --check` reports the keys ten owns.
func configStrategyError(cfg *config.Config) error {
	err := checkStrategyName("upgrade.strategy", cfg.Upgrade.Strategy)
	if err != nil && cfg.Path != "" {
		return fmt.Errorf("%w (%s)", err, filepath.Base(cfg.Path))
	}
	return err
}

// orList writes "a, b or c".
func orList(names []string) string { return joinList(names, "or") }

// joinList writes "a, b conj c".
func joinList(names []string, conj string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + conj + " " + names[len(names)-1]
}

var errNoOverlap = errors.New("the old and the new server cannot share the database (the candidate's migration leaves a schema the running version cannot use): a zero-downtime switch is impossible; use --strategy restart (the downtime is measured and reported)")

// chooseStrategy applies --strategy: auto picks handoff when the running
// server can hand over its socket, else proxy when a proxy is configured.
// handoff and proxy need the old and the new server to share the
// database; restart always works, with downtime. It is the one place a
// strategy is chosen.
func chooseStrategy(want string, old *RunningServer, proxyDriver string, overlap bool) (strategy, error) {
	if want == StrategyAuto || want == "" {
		if old == nil {
			return nil, errors.New("no running server to switch from: use --strategy restart")
		}
		if !overlap {
			return nil, errNoOverlap
		}
		for _, s := range strategies {
			if s.overlaps() && s.usable(old, proxyDriver) == nil {
				return s, nil
			}
		}
		return nil, fmt.Errorf("the running server (ten %s) cannot hand over its socket, and no proxy is configured: set proxy = \"caddy\" or \"nginx\" under [upgrade] (or pass --proxy), or use --strategy restart", old.Version)
	}
	s, err := strategyNamed(want)
	if err != nil {
		return nil, err
	}
	if err := s.usable(old, proxyDriver); err != nil {
		return nil, err
	}
	if s.overlaps() && !overlap {
		return nil, errNoOverlap
	}
	return s, nil
}

// availableStrategies are the strategies that could switch from old with
// proxyDriver, best first (the database compatibility of a candidate can
// still rule the overlapping ones out).
func availableStrategies(old *RunningServer, proxyDriver string) []string {
	names := []string{}
	for _, s := range strategies {
		if s.usable(old, proxyDriver) == nil {
			names = append(names, s.name())
		}
	}
	return names
}

// hasProxy says whether a proxy driver is configured.
func hasProxy(driver string) bool { return driver != "" && driver != config.ProxyNone }
