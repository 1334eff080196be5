package supervisor

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/tenement/ten/runtime/cgroup"
	"github.com/tenement/ten/runtime/config"
)

type key struct{ service, id string }

func (k key) String() string { return k.service + ":" + k.id }

// inst is the supervisor's record of one instance. Every field after svc is
// guarded by Supervisor.mu.
type inst struct {
	key
	svc *config.Service

	state       State
	health      string
	weight      int
	restarts    int
	owner       string
	logPath     string
	adopted     bool
	startedAt   time.Time
	lastReq     time.Time
	inFlight    int
	healthFails int
	crashes     []time.Time // automatic restarts inside restart_window
	lastErr     error       // why it last exited or failed, for messages
	lastExit    string      // how its last process ended (see Instance.LastExit)
	oomKills    int         // processes the OOM killer stopped, while this server watched
	storage     storageUsage

	proc *process // the running process; nil when there is none
	op   *op      // the transition in progress (start or stop); nil when settled
}

// process is one OS process of an instance.
type process struct {
	pid       int
	port      int
	startTime int64 // ms since the epoch (gopsutil CreateTime)
	adopted   bool  // not our child: watched by polling, exit status unknown

	done     chan struct{} // closed once the process has exited
	exitErr  error         // set before done is closed (children only)
	doneOnce sync.Once

	stopping bool // guarded by Supervisor.mu: we are stopping it on purpose

	// cgroup is the process's group (limits.go); nil without limits. Set
	// before the process starts, or for an adopted one under Supervisor.mu.
	cgroup *cgroup.Group
}

// markExited closes done, once.
func (p *process) markExited() { p.doneOnce.Do(func() { close(p.done) }) }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// opKind says what a transition does, which decides what its failure means.
type opKind int

const (
	opSpawn   opKind = iota // first start, or a wake: failure returns to prev
	opRestart               // automatic restart: failure counts as a crash
	opManual                // Restart(): kill and start again, no backoff
	opStop                  // Stop() or idle stop
)

// op is a transition in progress. Waiters block on done; err is set before
// done is closed.
type op struct {
	kind   opKind
	prev   State    // state to return to if an opSpawn fails; "" = forget the instance
	old    *process // process to terminate first (restarts); read under Supervisor.mu
	done   chan struct{}
	err    error
	ctx    context.Context
	cancel context.CancelFunc
	// launched: the process has been (or is being) started; guarded by
	// Supervisor.mu. A hand-over cancels the transitions not launched yet
	// and waits for the others.
	launched bool
}

// snapshot copies the instance for callers. Caller holds Supervisor.mu.
func (in *inst) snapshot() Instance {
	i := Instance{
		Service:     in.service,
		ID:          in.id,
		State:       in.state,
		Health:      in.health,
		Weight:      in.weight,
		Restarts:    in.restarts,
		StartedAt:   in.startedAt,
		LastRequest: in.lastReq,
		InFlight:    in.inFlight,
		Owner:       in.owner,
		LogPath:     in.logPath,
		Adopted:     in.adopted,
		LastExit:    in.lastExit,
		OOMKills:    in.oomKills,
	}
	in.storage.fill(&i, in.svc)
	if in.lastErr != nil && in.state != StateRunning {
		i.Error = in.lastErr.Error()
	}
	if p := in.proc; p != nil {
		i.PID = p.pid
		i.Port = p.port
		i.Addr = p.addr()
		i.ProcStartTime = p.startTime
		if p.cgroup != nil {
			i.Cgroup = p.cgroup.Path()
		}
	}
	return i
}

// live reports whether requests can be sent to the instance now.
func (in *inst) live() bool {
	return in.op == nil && in.proc != nil && (in.state == StateRunning || in.state == StateUnhealthy)
}
