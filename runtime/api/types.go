package api

// The JSON shapes of the REST API. Field names are tenement's, so scripts
// written against tenement keep working; fields tenement did not have are
// additions, never renames.

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}

// Instance is one element of GET /api/instances.
type Instance struct {
	ID         string `json:"id"`          // "service:id", as tenement
	Service    string `json:"service"`     // the service alone
	InstanceID string `json:"instance_id"` // the id alone
	// Socket is the address the instance listens on. tenement named the
	// field after its Unix sockets; ten's tenants listen on TCP, so it
	// carries "127.0.0.1:port" (the same as Listen).
	Socket     string `json:"socket"`
	Listen     string `json:"listen"`
	Port       int    `json:"port"`
	PID        int    `json:"pid"`
	State      string `json:"state"`  // starting, running, unhealthy, restarting, idle, stopped, failed
	Health     string `json:"health"` // healthy, unhealthy, unknown
	UptimeSecs int64  `json:"uptime_secs"`
	IdleSecs   int64  `json:"idle_secs"` // since the last proxied request
	Restarts   int    `json:"restarts"`
	Weight     int    `json:"weight"`
	InFlight   int    `json:"in_flight"`
	Adopted    bool   `json:"adopted"`

	// Resource limits and storage (tenement's storage_used_bytes and
	// storage_quota_bytes; the quota is 0 when there is none). last_exit
	// is how the last process ended: "oom", "exit N", "signal NAME",
	// "unknown"; cgroup is the current process's cgroup path.
	StorageUsedBytes  int64  `json:"storage_used_bytes"`
	StorageQuotaBytes int64  `json:"storage_quota_bytes"`
	StorageOverQuota  bool   `json:"storage_over_quota"`
	LastExit          string `json:"last_exit,omitempty"`
	OOMKills          int    `json:"oom_kills"`
	Cgroup            string `json:"cgroup,omitempty"`
}

// SpawnRequest is the body of POST /api/instances/spawn.
type SpawnRequest struct {
	Process string `json:"process"`
	ID      string `json:"id"`
}

// SpawnResponse answers spawn and restart.
type SpawnResponse struct {
	Instance string `json:"instance"` // "service:id"
	Socket   string `json:"socket"`   // listen address, see Instance.Socket
	Port     int    `json:"port"`
	PID      int    `json:"pid"`
}

// WeightRequest is the body of PUT /api/instances/{instance}/weight.
type WeightRequest struct {
	Weight *int `json:"weight"`
}

// WeightResponse answers a weight change.
type WeightResponse struct {
	Instance string `json:"instance"`
	Weight   int    `json:"weight"`
}

// HealthResponse answers GET /api/instances/{instance}/health.
type HealthResponse struct {
	Instance string `json:"instance"`
	Health   string `json:"health"`
	State    string `json:"state"`
}

// DeployRequest is the body of POST /api/deploy: spawn process:version,
// wait until it is healthy, then give it weight.
type DeployRequest struct {
	Process string `json:"process"`
	Version string `json:"version"`
	Weight  *int   `json:"weight,omitempty"`  // default 100
	Timeout *int   `json:"timeout,omitempty"` // seconds, default 30
}

// DeployResponse answers a deploy.
type DeployResponse struct {
	Instance string `json:"instance"`
	Socket   string `json:"socket"`
	Weight   int    `json:"weight"`
	Status   string `json:"status"` // "healthy"
}

// RouteRequest is the body of POST /api/route: move all traffic of
// process from one version to another.
type RouteRequest struct {
	Process string `json:"process"`
	From    string `json:"from"`
	To      string `json:"to"`
}

// RouteResponse answers a route swap.
type RouteResponse struct {
	FromInstance string `json:"from_instance"`
	ToInstance   string `json:"to_instance"`
	FromWeight   int    `json:"from_weight"`
	ToWeight     int    `json:"to_weight"`
}

// Health is the body of GET /health (no authentication).
type Health struct {
	Status        string   `json:"status"` // "ok"
	Version       string   `json:"version"`
	APIVersion    string   `json:"api_version"`
	PID           int      `json:"pid"`
	SchemaVersion int      `json:"schema_version"`
	Nonce         string   `json:"nonce"` // $TEN_HEALTH_NONCE of the server process
	Capabilities  []string `json:"capabilities"`
	ServerID      string   `json:"server_id"`
}

// Defaults of DeployRequest.
const (
	DefaultDeployWeight  = 100
	DefaultDeployTimeout = 30
)
