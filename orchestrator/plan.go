package orchestrator

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/tenement/ten/runtime/config"
)

// Step names, in the order an upgrade runs them. The journal records one
// step per name; `ten-upgrade status` shows them.
const (
	StepLock         = "lock"
	StepFetch        = "fetch"
	StepCompat       = "compat"
	StepBackupBinary = "backup-binary"
	StepBackupDB     = "backup-db"
	StepStage        = "stage"
	StepSwitch       = "switch"
	StepPromote      = "promote"
	StepWatch        = "watch"
	StepCommit       = "commit"
)

// StepNames lists every step of an upgrade in order.
var StepNames = []string{StepLock, StepFetch, StepCompat, StepBackupBinary, StepBackupDB,
	StepStage, StepSwitch, StepPromote, StepWatch, StepCommit}

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

// PlanStep is one line of a plan: a step and what it will do.
type PlanStep struct {
	Name     string   `json:"name"`
	Does     string   `json:"does"`
	Commands []string `json:"commands,omitempty"`
	Undo     string   `json:"undo"`
}

// plan describes what an upgrade with params p will do, step by step: the
// dry run prints it and the confirmation prompt shows it.
func plan(p *Params) []PlanStep {
	bak := p.Installed + ".bak"
	oldDesc := "no server is running"
	if p.Old != nil {
		oldDesc = fmt.Sprintf("pid %d (ten %s) on %s", p.Old.PID, p.Old.Version, p.Old.Addr)
	}
	steps := []PlanStep{
		{Name: StepLock, Does: fmt.Sprintf("take %s, %s and %s (one upgrade of this installation at a time, whatever its state directory)",
			dataDirLockPath(p.DataDir), binaryLockPath(p.Installed), filepath.Join(p.StateDir, "lock")), Undo: "released on exit"},
		{Name: StepFetch, Does: fmt.Sprintf("verified ten %s kept as %s (sha256 %s)", p.To, p.Candidate, short(p.CandidateSHA256)), Undo: "remove the kept copy"},
		{Name: StepCompat, Does: fmt.Sprintf("config and database checked with the candidate: overlap possible %v, rollback needs database restore %v", p.OverlapOK, p.RestoreDBNeeds), Undo: "nothing"},
		{Name: StepBackupBinary, Does: fmt.Sprintf("copy %s to %s (fsync; the previous .bak becomes .bak.1)", p.Installed, bak), Undo: "keep the backup"},
		{Name: StepBackupDB, Does: fmt.Sprintf("online backup of %s into %s (integrity-checked, 0600, keep %d)", p.DB, filepath.Join(p.StateDir, "backups"), p.KeepBackups),
			Undo: "restore it only if the schema moved past ten " + p.From + "'s; otherwise keep the newer data"},
		{Name: StepStage, Does: fmt.Sprintf("copy the candidate to %s", p.Staged), Undo: "remove the staged file"},
	}
	sw := PlanStep{Name: StepSwitch}
	args := ""
	if p.Old != nil {
		args = strings.Join(serveArgs(p.Old.Args, p.Port), " ")
	}
	switch p.Strategy {
	case config.StrategyHandoff:
		sw.Does = fmt.Sprintf("ask the running server (%s) over %s to start %s with its listening socket; health-gate the new one (%d answers with version %s and its pid within %s); the old one drains and exits",
			oldDesc, filepath.Join(p.DataDir, "ten.sock"), p.Staged, p.HealthChecks, p.To, p.HealthTimeout.D())
		sw.Commands = []string{`{"op":"upgrade","binary":"` + p.Staged + `"} -> ` + filepath.Join(p.DataDir, "ten.sock")}
		sw.Undo = "hand the socket back to ten " + p.From + " the same way"
	case config.StrategyProxy:
		sw.Does = fmt.Sprintf("start the candidate beside %s on port %d with TEN_HEALTH_NONCE, health-gate it (%d answers within %s), switch %s to [new, old], probe through %s, SIGTERM the old server and wait for it to drain, switch %s to [new]",
			oldDesc, p.Port, p.HealthChecks, p.HealthTimeout.D(), p.Proxy.Driver, p.Proxy.URL, p.Proxy.Driver)
		sw.Commands = []string{fmt.Sprintf("TEN_HEALTH_NONCE=%s %s %s", p.Nonce, p.Staged, serveArgsString(p, args))}
		sw.Undo = "start ten " + p.From + " again if it stopped, switch the proxy back to its saved configuration, stop the candidate"
	case config.StrategyRestart:
		sw.Does = fmt.Sprintf("stop %s (SIGTERM, wait), start the candidate, health-gate it (%d answers within %s); requests fail meanwhile, and the downtime is reported",
			oldDesc, p.HealthChecks, p.HealthTimeout.D())
		if p.Old != nil {
			sw.Commands = []string{fmt.Sprintf("kill -TERM %d", p.Old.PID), fmt.Sprintf("TEN_HEALTH_NONCE=%s %s %s", p.Nonce, p.Staged, strings.Join(p.Old.Args, " "))}
		}
		sw.Undo = "stop the candidate, restore the database if the schema moved past ten " + p.From + "'s, start ten " + p.From + " again"
	}
	steps = append(steps, sw,
		PlanStep{Name: StepPromote, Does: fmt.Sprintf("rename %s over %s (never an instant without a binary there; fsync the directory)", p.Staged, p.Installed), Undo: "put ten " + p.From + " back from " + bak},
		PlanStep{Name: StepWatch, Does: fmt.Sprintf("watch the new server for %s: health, restarts, 5xx rate above %.1f%% in /metrics", p.Watch.D(), p.MaxErrorRate*100), Undo: "nothing"},
		PlanStep{Name: StepCommit, Does: "record the upgrade committed; prune old backups", Undo: "nothing"},
	)
	return steps
}

func serveArgsString(p *Params, args string) string {
	if args == "" {
		return fmt.Sprintf("serve --port %d", p.Port)
	}
	return args
}

// writePlan prints the plan as text.
func writePlan(w io.Writer, p *Params, steps []PlanStep) {
	fmt.Fprintf(w, "Plan: ten %s -> %s, strategy %s\n", p.From, p.To, p.Strategy)
	for i, s := range steps {
		fmt.Fprintf(w, "%2d. %-14s %s\n", i+1, s.Name, s.Does)
		for _, c := range s.Commands {
			fmt.Fprintf(w, "    %-14s $ %s\n", "", c)
		}
		fmt.Fprintf(w, "    %-14s undo: %s\n", "", s.Undo)
	}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
