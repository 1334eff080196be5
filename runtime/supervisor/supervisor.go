package supervisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/logs"
)

// Supervisor owns the tenant instances of one server. Its methods are safe
// for concurrent use.
type Supervisor struct {
	opts    Options
	cfg     *config.Config
	dataDir string // settings.data_dir, absolute: tenants run elsewhere
	log     *slog.Logger
	now     func() time.Time
	indexer *logs.Indexer
	lim     *limiter // resource limits (limits.go)

	// life is the Supervisor's lifetime: loops and transitions run under it
	// (never under a caller's context, so that one impatient request does
	// not cancel a wake other requests are waiting for).
	life context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup // loops and transitions

	startMu sync.Mutex // guards started: Start runs once
	started bool

	dbMu sync.Mutex // orders state writes; see persist

	// The lease loop runs until the very end of Shutdown (a supervisor
	// stopping its tenants keeps its lease meanwhile), so not under life.
	leaseCtx  context.Context
	leaseStop context.CancelFunc
	leaseWG   sync.WaitGroup

	pid       int   // this process
	procStart int64 // and its start time, as recorded in servers and the lease
	startedAt time.Time

	supervising     chan struct{} // closed when this server first holds the lease
	supervisingOnce sync.Once
	supWG           sync.WaitGroup // health and idle loops

	leasePolls atomic.Int64 // lease loop passes, for tests
	views      atomic.Int64 // follower view refreshes, for tests

	// mu guards the fields below and the mutable fields of every inst. It
	// is never held across a process start, a probe, a signal wait or a
	// database write.
	mu     sync.Mutex
	insts  map[key]*inst
	ports  map[int]key // ports handed out and not yet released
	next   int         // where the next port search starts
	closed bool

	// Lease state (see doc.go: lease.go, follow.go, handover.go).
	role         role
	retiring     bool          // HandOver in progress: still the holder, but acting no more
	handedTo     string        // the successor, once handed over
	holder       string        // the lease holder as last seen, for ErrNotSupervisor
	holderAddr   string        // and its address
	leaseRenewed time.Time     // when this supervisor last renewed its lease (s.now())
	changed      chan struct{} // closed and replaced on a change of role or view
	supCancel    context.CancelFunc
}

// New checks the options and returns a Supervisor. Spawn, Stop and the
// other methods work at once; Start adopts running instances and starts
// the background loops.
func New(opts Options) (*Supervisor, error) {
	if opts.Config == nil {
		return nil, errors.New("supervisor: Options.Config is nil")
	}
	if opts.DB == nil {
		return nil, errors.New("supervisor: Options.DB is nil")
	}
	if opts.Config.Settings.DataDir == "" {
		return nil, errors.New("supervisor: settings.data_dir is empty")
	}
	dataDir, err := filepath.Abs(opts.Config.Settings.DataDir)
	if err != nil {
		return nil, fmt.Errorf("supervisor: data_dir: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PortMin == 0 && opts.PortMax == 0 {
		opts.PortMin, opts.PortMax = 30000, 40000
	}
	if opts.PortMin <= 0 || opts.PortMax > 65535 || opts.PortMin > opts.PortMax {
		return nil, fmt.Errorf("supervisor: bad port range %d-%d", opts.PortMin, opts.PortMax)
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 10 * time.Second
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = time.Duration(max(opts.Config.Settings.HealthCheckInterval, 1)) * time.Second
	}
	if opts.IdleInterval <= 0 {
		opts.IdleInterval = time.Second
	}
	if opts.LivenessInterval <= 0 {
		opts.LivenessInterval = 500 * time.Millisecond
	}
	if opts.LogPollInterval <= 0 {
		opts.LogPollInterval = 250 * time.Millisecond
	}
	if opts.UnhealthyThreshold <= 0 {
		opts.UnhealthyThreshold = 3
	}
	if opts.HealthTimeout <= 0 {
		opts.HealthTimeout = 5 * time.Second
	}
	if opts.LeaseInterval <= 0 {
		// A dead supervisor is then replaced within two health intervals.
		opts.LeaseInterval = min(opts.HealthInterval, time.Second)
	}
	if opts.ServerID == "" {
		opts.ServerID = newServerID()
	}
	pid := os.Getpid()
	procStart, err := proc.StartTime(pid)
	if err != nil {
		return nil, fmt.Errorf("supervisor: own process start time: %w", err)
	}
	s := &Supervisor{
		opts:    opts,
		cfg:     opts.Config,
		dataDir: dataDir,
		log:     opts.Logger,
		now:     opts.Now,
		insts:   map[key]*inst{},
		ports:   map[int]key{},
		// Start the search at a random place: two servers over one data
		// directory (or on one host) then rarely race for the same port.
		next: opts.PortMin + rand.IntN(opts.PortMax-opts.PortMin+1),

		pid:         pid,
		procStart:   procStart,
		supervising: make(chan struct{}),
		changed:     make(chan struct{}),
	}
	if s.lim, err = newLimiter(opts.Config, dataDir, opts.AllowUnlimited, opts.Logger); err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	s.indexer = logs.NewIndexer(opts.DB, logs.IndexerOptions{
		Interval: opts.LogPollInterval,
		Logger:   opts.Logger,
		Now:      opts.Now,
	})
	s.life, s.stop = context.WithCancel(context.Background())
	s.leaseCtx, s.leaseStop = context.WithCancel(context.Background())
	return s, nil
}

// every calls f every d until ctx is done.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f()
	}
}

// Indexer returns the log indexer, for callers that want to force a pass
// (logs.Indexer.Sync) before querying.
func (s *Supervisor) Indexer() *logs.Indexer { return s.indexer }

// Start registers the server in the servers table and takes the
// supervisor lease if it is free (or its holder is dead or stalled).
//
// As the supervisor, it adopts the live instances recorded in the database
// (same pid and process start time), restores idle and failed ones,
// starts the health, idle, liveness and log loops, and spawns the
// instances listed in [instances] that are not running. A tenant that
// fails to spawn is logged, not returned: one broken tenant must not keep
// the server down.
//
// Otherwise another live server supervises and this one is a follower:
// it serves requests for the instances recorded in the database (their
// processes verified by pid and start time), takes ownership of nothing,
// starts and stops nothing, and becomes the supervisor when the lease is
// handed to it or its holder dies (Supervising). Errors are about the
// database.
func (s *Supervisor) Start(ctx context.Context) error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.started {
		return errors.New("supervisor: already started")
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrShutdown
	}
	s.started = true
	s.startedAt = s.now()
	s.warnIsolation()

	if err := s.register(ctx); err != nil {
		return err
	}
	won, err := s.tryAcquire(ctx)
	if err != nil {
		return err
	}
	if !won {
		s.mu.Lock()
		s.role = roleFollower
		s.mu.Unlock()
		if err := s.refreshView(ctx); err != nil {
			return err
		}
		s.mu.Lock()
		s.log.Info("another server supervises; following it", "supervisor", s.holder, "supervisor_addr", s.holderAddr)
		s.mu.Unlock()
		s.startLoops()
		return nil
	}

	s.mu.Lock()
	s.role = roleOwner // recover records us as the owner
	s.mu.Unlock()
	if err := s.recover(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.becomeOwnerLocked()
	s.mu.Unlock()
	s.startLoops()
	s.announceOwner()
	s.spawnConfigured(ctx)
	return nil
}

// startLoops starts the loops that run whatever the role.
func (s *Supervisor) startLoops() {
	s.goLoop(func(ctx context.Context) { s.indexer.Run(ctx) })
	s.goLoop(s.livenessLoop)
	s.goLoop(s.storageLoop)
	s.goLoop(s.followLoop)
	s.leaseWG.Add(1)
	go func() {
		defer s.leaseWG.Done()
		s.leaseLoop(s.leaseCtx)
	}()
}

func (s *Supervisor) goLoop(f func(context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.life)
	}()
}

// spawnConfigured starts the [instances] that are not up yet, a few at a
// time.
func (s *Supervisor) spawnConfigured(ctx context.Context) {
	var todo []key
	for _, svc := range s.cfg.ServiceNames() {
		for _, id := range s.cfg.Instances[svc] {
			todo = append(todo, key{svc, id})
		}
	}
	for svc, ids := range s.cfg.Instances {
		if s.cfg.Services[svc] == nil {
			s.log.Error("[instances] names an unknown service", "service", svc, "ids", ids)
		}
	}
	parallel(8, todo, func(k key) {
		_, err := s.Spawn(ctx, k.service, k.id)
		switch {
		case err == nil, errors.Is(err, ErrExists):
		case errors.Is(err, ErrNotSupervisor), errors.Is(err, ErrShutdown):
			// Handed over or shut down meanwhile: not ours to start.
		default:
			s.log.Error("auto-spawn failed", "instance", k.String(), "err", err)
		}
	})
}

// Shutdown stops the loops and waits for transitions in progress. With
// stopTenants, a supervisor also stops every instance (SIGTERM to the
// process group, SIGKILL after StopGrace) and records them as idle, so that
// the next server wakes them on demand (and spawns [instances] at once).
// Without it, tenants keep running and stay recorded for a successor to
// adopt. A follower never stops tenants: they are the supervisor's. In
// every case the server gives up the lease, if it holds it, and removes
// its servers row, so that a successor takes over at once.
func (s *Supervisor) Shutdown(ctx context.Context, stopTenants bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.signalLocked()
	s.mu.Unlock()
	defer s.leaveLease(ctx)

	s.stop() // cancels loops and pending starts
	done := make(chan struct{})
	go func() { s.wg.Wait(); s.supWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("supervisor shutdown: %w", ctx.Err())
	}
	s.mu.Lock()
	follower := s.role == roleFollower
	s.mu.Unlock()
	if !stopTenants {
		return nil
	}
	if follower {
		s.log.Info("not the supervisor: leaving the tenants to it")
		return nil
	}

	s.mu.Lock()
	var all []*inst
	for _, in := range s.insts {
		all = append(all, in)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(all))
	for i, in := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.stopProcess(ctx, in, StateIdle, nil)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// leaveLease stops the lease loop, then releases the lease and removes this
// server's registration.
func (s *Supervisor) leaveLease(ctx context.Context) {
	s.leaseStop()
	s.leaseWG.Wait()
	s.startMu.Lock()
	started := s.started
	s.startMu.Unlock()
	if !started {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.unregister(dctx); err != nil {
		s.log.Warn("release supervisor lease", "err", err)
	}
}

// List returns a snapshot of every instance, sorted by service then id,
// except idle ones: `ten ps` and /api/instances show what tenement shows,
// and tenement's idle stop removes the instance from its list (see
// listed). Get still finds an idle instance.
func (s *Supervisor) List() []Instance {
	s.mu.Lock()
	out := make([]Instance, 0, len(s.insts))
	for _, in := range s.insts {
		if in.listed() {
			out = append(out, in.snapshot())
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Instance) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Get returns a snapshot of one instance.
func (s *Supervisor) Get(service, id string) (Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.insts[key{service, id}]
	if !ok {
		return Instance{}, false
	}
	return in.snapshot(), true
}

// SetWeight sets the routing weight (0..100) of service:id. Weight 0 keeps
// the instance running but AcquireService no longer picks it.
func (s *Supervisor) SetWeight(ctx context.Context, service, id string, weight int) error {
	if weight < 0 || weight > 100 {
		return fmt.Errorf("%s:%s: %w (got %d)", service, id, ErrBadWeight, weight)
	}
	s.mu.Lock()
	if err := s.notActingLocked(key{service, id}); err != nil {
		s.mu.Unlock()
		return err
	}
	in, ok := s.insts[key{service, id}]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%s:%s: %w", service, id, ErrNotFound)
	}
	in.weight = weight
	s.mu.Unlock()
	return s.persist(ctx, in)
}

// find returns the instance service:id, which must be known.
func (s *Supervisor) find(service, id string) (*inst, error) {
	if _, err := s.lookup(service, id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	in := s.insts[key{service, id}]
	s.mu.Unlock()
	if in == nil {
		return nil, fmt.Errorf("%s:%s: %w", service, id, ErrNotFound)
	}
	return in, nil
}

// parallel calls f for each item, at most limit at a time, so that one
// slow item does not hold up the others, nor do all of them start at once.
func parallel[T any](limit int, items []T, f func(T)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(it)
		}()
	}
	wg.Wait()
}

// lookup validates a name and returns its service configuration.
func (s *Supervisor) lookup(service, id string) (*config.Service, error) {
	if err := validName(id); err != nil && !s.knownStored(service, id) {
		return nil, fmt.Errorf("%s:%s: %w: %v", service, id, ErrInvalidID, err)
	}
	svc := s.cfg.Services[service]
	if svc == nil {
		return nil, fmt.Errorf("%s:%s: %w %q", service, id, ErrUnknownService, service)
	}
	// The name becomes a directory and a subdomain label: the config may
	// hold a name (a quoted TOML key) that can be neither.
	if err := validName(service); err != nil {
		return nil, fmt.Errorf("%s:%s: %w: service name: %v", service, id, ErrInvalidID, err)
	}
	if config.ReservedName(service) {
		return nil, fmt.Errorf("%s:%s: %w: %v", service, id, ErrInvalidID, config.ReservedNameError(service))
	}
	return svc, nil
}

func (s *Supervisor) emit(kind EventKind, in *inst, err error) {
	if s.opts.OnEvent == nil {
		return
	}
	s.mu.Lock()
	snap := in.snapshot()
	s.mu.Unlock()
	s.opts.OnEvent(Event{Kind: kind, Instance: snap, Err: err, Time: s.now()})
}
