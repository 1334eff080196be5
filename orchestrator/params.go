package orchestrator

import (
	"path/filepath"
	"time"

	"github.com/tenement/ten/runtime/store"
)

// Params are everything an upgrade needs to be resumed or rolled back by
// another ten-upgrade process: they are written into the journal when the
// upgrade begins, and the steps work from them and from the outputs of the
// steps before them, never from memory.
type Params struct {
	ConfigPath string `json:"config_path"`
	DataDir    string `json:"data_dir"`
	DB         string `json:"db"`
	StateDir   string `json:"state_dir"`

	// Installed is the binary path being upgraded; InstalledSHA256 its
	// content before the upgrade (version From).
	Installed       string `json:"installed"`
	InstalledSHA256 string `json:"installed_sha256"`
	From            string `json:"from"`
	// FromSchema is the newest schema the installed binary knows: a
	// database whose compat floor is above it needs the backup restored
	// before that binary can run again.
	FromSchema int `json:"from_schema"`

	To              string `json:"to"`
	ToSchema        int    `json:"to_schema"`
	Candidate       string `json:"candidate"` // verified copy under the state dir
	CandidateSHA256 string `json:"candidate_sha256"`
	// Staged is where the candidate is staged, beside Installed.
	Staged string `json:"staged"`

	Strategy string `json:"strategy"`
	// Old is the server that was running; nil when none was (restart only).
	// OldEnv is its environment, which the servers ten-upgrade starts in
	// its place get (kept here, 0600, rather than in Old, which status
	// prints).
	Old    *RunningServer `json:"old"`
	OldEnv []string       `json:"old_env,omitempty"`
	// Port and Nonce are the candidate's, for the proxy and restart
	// strategies (chosen before the switch, so that a rollback after a
	// crash finds the process it started).
	Port     int    `json:"port,omitempty"`
	Nonce    string `json:"nonce,omitempty"`
	ServeLog string `json:"serve_log"`

	Proxy ProxyParams `json:"proxy"`

	HealthTimeout  Duration `json:"health_timeout"`
	HealthChecks   int      `json:"health_checks"`
	Watch          Duration `json:"watch"`
	MaxErrorRate   float64  `json:"max_error_rate"`
	DrainTimeout   Duration `json:"drain_timeout"`
	KeepBackups    int      `json:"keep_backups"`
	OverlapOK      bool     `json:"overlap_possible"`
	RestoreDBNeeds bool     `json:"rollback_needs_db_restore"`
}

// ProxyParams say which front proxy the proxy strategy switches and how to
// probe through it.
type ProxyParams struct {
	Driver      string   `json:"driver"` // caddy, nginx or none
	AdminURL    string   `json:"admin_url,omitempty"`
	Caddyfile   string   `json:"caddyfile,omitempty"`
	Include     string   `json:"include,omitempty"`
	NginxConfig string   `json:"nginx_config,omitempty"`
	NginxPrefix string   `json:"nginx_prefix,omitempty"`
	NginxPID    string   `json:"nginx_pid,omitempty"`
	NginxArgs   []string `json:"nginx_args,omitempty"`
	URL         string   `json:"url,omitempty"`  // where clients reach the proxy, for the probe
	Host        string   `json:"host,omitempty"` // Host header for the probe
}

// Duration is a time.Duration that reads and writes JSON as "30s".
type Duration time.Duration

// D is the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes "1m30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads what MarshalText writes.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// newParams are the params of a new upgrade from what the check found,
// with what strategy s needs chosen beforehand.
func newParams(opts RunOptions, in *install, chk *CheckReport, old *RunningServer, s strategy) (*Params, error) {
	p := &Params{
		ConfigPath: in.configPath, DataDir: in.dataDir, StateDir: in.stateDir,
		DB:        filepath.Join(in.dataDir, store.FileName),
		Installed: chk.Installed.Path, InstalledSHA256: chk.Installed.SHA256, From: chk.Installed.Version,
		To: chk.Candidate.Version, Candidate: chk.Candidate.Kept, CandidateSHA256: chk.Candidate.KeptSHA256,
		Strategy: s.name(), Old: old,
		Proxy:         opts.Proxy,
		HealthTimeout: Duration(opts.HealthTimeout), HealthChecks: opts.HealthChecks,
		Watch: Duration(opts.Watch), MaxErrorRate: opts.MaxErrorRate, DrainTimeout: Duration(opts.DrainTimeout),
		KeepBackups:    opts.KeepBackups,
		OverlapOK:      chk.OverlapPossible != nil && *chk.OverlapPossible,
		RestoreDBNeeds: chk.RollbackNeedsDBRestore != nil && *chk.RollbackNeedsDBRestore,
		ServeLog:       filepath.Join(in.stateDir, "logs", "serve-"+time.Now().UTC().Format("20060102T150405Z")+".log"),
	}
	if old != nil {
		p.OldEnv = old.Env
	}
	if chk.Installed.Info != nil {
		p.FromSchema = chk.Installed.Info.SchemaVersion
	}
	if chk.Candidate.Info != nil {
		p.ToSchema = chk.Candidate.Info.SchemaVersion
	}
	if opts.DryRun {
		p.Candidate = "(verified candidate, kept under " + filepath.Join(in.stateDir, "candidates") + ")"
		p.CandidateSHA256 = chk.Candidate.SHA256
	}
	p.Staged = filepath.Join(filepath.Dir(p.Installed), "."+filepath.Base(p.Installed)+".new")
	if err := s.prepare(p); err != nil {
		return nil, err
	}
	return p, nil
}
