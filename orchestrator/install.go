package orchestrator

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tenement/ten/orchestrator/journal"
	"github.com/tenement/ten/runtime/config"
)

// install is what the config and flags say about the install.
type install struct {
	configPath string
	cfg        *config.Config
	dataDir    string
	stateDir   string
}

// findInstall loads the config (if any) the way ten does and works
// out the data and state directories.
func findInstall(co CheckOptions, stateDir string) (*install, error) {
	getenv := co.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	in := &install{}
	path, err := config.Discover(co.Config, getenv, co.Cwd)
	switch {
	case errors.Is(err, config.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		cfg, _, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		in.configPath, in.cfg = path, cfg
	}
	if in.cfg == nil {
		in.cfg = config.Default()
		in.cfg.Settings.DataDir = ""
	}
	in.cfg.OverrideDataDir(co.DataDir, getenv)
	in.dataDir = in.cfg.Settings.DataDir
	if in.dataDir == "" {
		return nil, errors.New("no tenement.toml found and no data directory given: pass --config FILE or --data-dir DIR")
	}
	if abs, err := filepath.Abs(in.dataDir); err == nil {
		in.dataDir = abs
		in.cfg.Settings.DataDir = abs
	}
	in.stateDir = stateDir
	if in.stateDir == "" {
		in.stateDir = in.cfg.UpgradeStateDir()
	}
	if abs, err := filepath.Abs(in.stateDir); err == nil {
		in.stateDir = abs
	}
	return in, nil
}

func (o *RunOptions) defaults(cfg *config.Config) {
	if o.Strategy == "" {
		o.Strategy = cfg.Upgrade.Strategy
	}
	if o.Strategy == "" {
		o.Strategy = StrategyAuto
	}
	if o.Proxy.Driver == "" {
		o.Proxy.Driver = cfg.Upgrade.Proxy
	}
	if o.Proxy.Driver == "" {
		o.Proxy.Driver = config.ProxyNone
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = time.Duration(cfg.Upgrade.HealthTimeout) * time.Second
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = 30 * time.Second
	}
	if o.HealthChecks <= 0 {
		o.HealthChecks = 3
	}
	if o.Watch == 0 {
		o.Watch = 30 * time.Second
	}
	if o.Watch < 0 {
		o.Watch = 0
	}
	if o.MaxErrorRate <= 0 {
		o.MaxErrorRate = 0.01
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.KeepBackups <= 0 {
		o.KeepBackups = cfg.Upgrade.KeepBackups
	}
	if o.KeepBackups <= 0 {
		o.KeepBackups = 3
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// checkStrategy refuses an unknown strategy before a new upgrade starts:
// the --strategy flag's, else the config's [upgrade] strategy.
func (in *install) checkStrategy(flag string) error {
	if flag != "" {
		return checkStrategyName("--strategy", flag)
	}
	return configStrategyError(in.cfg)
}

// openInstall finds the install and opens its journal. The journal is nil
// when no upgrade was ever recorded in the state directory: looking
// creates nothing.
func openInstall(ctx context.Context, co CheckOptions, stateDir string) (*install, *journal.Journal, error) {
	in, err := findInstall(co, stateDir)
	if err != nil || !fileExists(filepath.Join(in.stateDir, journal.FileName)) {
		return in, nil, err
	}
	j, err := journal.Open(ctx, in.stateDir)
	return in, j, err
}
