package supervisor

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/names"
)

// Sentinel errors. Errors returned by the Supervisor wrap these with context;
// test them with errors.Is.
var (
	ErrUnknownService = errors.New("unknown service")
	ErrInvalidID      = errors.New("invalid instance id")
	ErrNotFound       = errors.New("instance not found")
	ErrExists         = errors.New("instance already exists")
	ErrBadWeight      = errors.New("weight must be between 0 and 100")
	// ErrFailed means the instance gave up after max_restarts restarts
	// within restart_window; it stays failed until spawned again.
	ErrFailed = errors.New("instance failed")
	// ErrShutdown is returned once Shutdown has been called.
	ErrShutdown = errors.New("supervisor shut down")
	// ErrNotSupervisor is returned by mutations (Spawn, Stop, Restart,
	// SetWeight) on a server that does not hold the supervisor lease: the
	// request must go to the supervising server, which the error names.
	ErrNotSupervisor = errors.New("not the supervising server")
	// ErrNoSuccessor is returned by HandOver when no other live server is
	// registered over the data directory.
	ErrNoSuccessor = errors.New("no live successor server")
)

// State is the lifecycle state of an instance.
type State string

const (
	StateStarting   State = "starting"
	StateRunning    State = "running"
	StateUnhealthy  State = "unhealthy"
	StateRestarting State = "restarting"
	StateIdle       State = "idle" // stopped by scale-to-zero; woken by the next request
	StateStopped    State = "stopped"
	StateFailed     State = "failed"
)

// Health values reported in Instance.Health.
const (
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
	HealthUnknown   = "unknown"
)

// Instance is a snapshot of one tenant instance.
type Instance struct {
	Service string `json:"service"`
	ID      string `json:"id"`
	// PID, Port, Addr and ProcStartTime describe the current process; they
	// are zero when there is none (idle, stopped, failed).
	PID           int    `json:"pid"`
	Port          int    `json:"port"`
	Addr          string `json:"addr"`            // 127.0.0.1:port, to dial
	ProcStartTime int64  `json:"proc_start_time"` // ms since the epoch; with PID, names one process

	State    State  `json:"state"`
	Health   string `json:"health"` // healthy, unhealthy, unknown
	Weight   int    `json:"weight"` // 0..100, for AcquireService
	Restarts int    `json:"restarts"`
	// Error is why it last exited, failed a health check or failed to
	// start; empty while it is fine.
	Error string `json:"error,omitempty"`

	StartedAt   time.Time `json:"started_at"`   // when the current process became ready
	LastRequest time.Time `json:"last_request"` // last Acquire or release
	InFlight    int       `json:"in_flight"`    // acquired, not yet released

	Owner string `json:"owner"` // server id supervising it
	// LogPath is the stdout log file; logs.FilesFromPath gives both.
	LogPath string `json:"log_path"`
	Adopted bool   `json:"adopted"` // started by another server, not our child

	// LastExit is how the last process ended: "oom" (killed at its memory
	// limit), "exit N", "signal NAME", or "unknown" (an adopted process);
	// empty if none has ended under this server. OOMKills counts the "oom"
	// ones. Cgroup is the current process's cgroup path, if it has limits.
	LastExit string `json:"last_exit,omitempty"`
	OOMKills int    `json:"oom_kills"`
	Cgroup   string `json:"cgroup,omitempty"`

	// Storage of the data directory, measured every health interval
	// (storage.go); the quota is 0 when there is none.
	StorageUsedBytes  int64 `json:"storage_used_bytes"`
	StorageQuotaBytes int64 `json:"storage_quota_bytes"`
	StorageOverQuota  bool  `json:"storage_over_quota"`
}

// Name returns "service:id".
func (i Instance) Name() string { return i.Service + ":" + i.ID }

// ParseName splits "service:id".
func ParseName(s string) (service, id string, err error) {
	service, id, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("%w: %q: want service:id", ErrInvalidID, s)
	}
	// Syntax only: ids an earlier release stored still name their
	// instances; Spawn refuses them for new ones.
	if !storedName(service) {
		return "", "", fmt.Errorf("%w: %q: service: %s", ErrInvalidID, s, names.Rule)
	}
	if !storedName(id) {
		return "", "", fmt.Errorf("%w: %q: id: %s", ErrInvalidID, s, names.Rule)
	}
	return service, id, nil
}

// EventKind says what happened to an instance.
type EventKind string

const (
	EventSpawned   EventKind = "spawned"
	EventReady     EventKind = "ready"
	EventExited    EventKind = "exited"
	EventUnhealthy EventKind = "unhealthy"
	EventRestarted EventKind = "restarted"
	EventFailed    EventKind = "failed"
	EventStopped   EventKind = "stopped"
	EventIdle      EventKind = "idle"
	EventWoken     EventKind = "woken"
	EventAdopted   EventKind = "adopted"
	// EventOOMKilled: the kernel killed the process at its memory limit;
	// exited (and the restart policy) follow as for any exit.
	EventOOMKilled EventKind = "oom_killed"

	// Lease events concern the server, not an instance: Event.Instance
	// is zero but for Owner, the server that holds the lease afterwards.
	EventLeaseAcquired   EventKind = "lease_acquired"    // this server became the supervisor
	EventLeaseHandedOver EventKind = "lease_handed_over" // this server gave the lease to Owner
)

// Event is passed to Options.OnEvent. A crash produces exited, then
// restarted once the replacement is ready (or failed when the budget is
// spent); a health-check restart produces unhealthy, then restarted. Each
// Restart call and each automatic restart that comes up produces exactly
// one restarted event, so counting them gives a restart counter.
type Event struct {
	Kind     EventKind
	Instance Instance // snapshot after the event
	Err      error    // cause, for exited/unhealthy/failed
	Time     time.Time
}

// Options configure a Supervisor.
type Options struct {
	Config *config.Config
	DB     *sql.DB // state database (store.DB embeds it), already migrated
	// ServerID names this server in the servers table, in the supervisor
	// lease and as owner of the instances it supervises. It must be unique
	// among the servers over one data directory; default: generated.
	ServerID string
	Logger   *slog.Logger

	// Addr is this server's public listen address and Version its version,
	// recorded in the servers table (and Addr in the lease) so that other
	// servers can name it, e.g. in ErrNotSupervisor.
	Addr    string
	Version string

	PortMin, PortMax int // tenant port range; default 30000-40000 as tenement

	// TenantUser runs the instances of services without a user key when
	// ten runs as root; it is created if missing. "" (or "root") leaves
	// them as root. `ten serve` sets config.DefaultTenantUser.
	TenantUser string

	Now       func() time.Time // clock; default time.Now
	StopGrace time.Duration    // SIGTERM -> SIGKILL; default 10s

	// The intervals below override the config or the defaults when
	// non-zero; tests use milliseconds.
	HealthInterval   time.Duration // default settings.health_check_interval
	IdleInterval     time.Duration // how often idle instances are looked for; default 1s
	LivenessInterval time.Duration // how often adopted pids are polled; default 500ms
	LogPollInterval  time.Duration // log indexer poll; default 250ms
	// LeaseInterval is how often the supervisor renews its lease and every
	// server heartbeats its servers row. A follower polls the lease (and
	// re-reads instance_state) at least as often, and at most every
	// 100ms: a holder whose process is gone is replaced at the next poll,
	// one whose heartbeat is older than max(5 LeaseIntervals, 1s) too.
	// Default: the health interval, at most 1s.
	LeaseInterval time.Duration

	// UnhealthyThreshold is the number of consecutive failed health checks
	// after which an instance is restarted; default 3, as tenement.
	UnhealthyThreshold int
	// HealthTimeout bounds one health probe; default 5s, as tenement.
	HealthTimeout time.Duration

	// OnEvent, if set, is called for every lifecycle event (spawn, ready,
	// exit, restart, failure, idle stop, wake, adoption), from the
	// goroutine that caused it and never while the Supervisor holds a lock,
	// so it may call List or Get. It should not block: the API uses it to
	// count restarts for Prometheus.
	OnEvent func(Event)

	// AllowUnlimited runs services with memory_limit_mb or cpu_shares
	// without limits where no cgroup can be made; without it New fails.
	AllowUnlimited bool
}
