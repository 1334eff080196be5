// Package supervisor runs tenant processes: it spawns them from the service
// configuration, checks their health, restarts them with backoff, stops idle
// ones and wakes them on the next request, and records every instance in the
// state database so that another server over the same data directory can
// adopt them.
//
// # What it owns
//
// Tenants are not tied to the server's lifetime. Each runs in its own
// process group, writes to log files the server opened for it (not to
// pipes), and is recorded in instance_state with its pid and process start
// time. A server that exits without stopping them (Shutdown(ctx, false), or
// a crash) leaves them serving; the next server adopts every recorded
// process that is still the same process, and never signals a pid that has
// been reused.
//
// On disk, under settings.data_dir:
//
//	{service}/{id}/                    the instance's data directory (0700; {data_dir}/{name}/{id})
//	.logs/{service}/{id}.stdout.log    its stdout (instance_state.log_path)
//	.logs/{service}/{id}.stderr.log    its stderr
//	(config table, ten.logs.progress:*) how far the log indexer has read
//
// # Two servers, one data directory: the lease
//
// Two servers over one data directory (an upgrade overlaps the old and the
// new one) share the tenants, but exactly one of them supervises: it holds
// the row of supervisor_lease, renews it every LeaseInterval, and alone
// restarts, idle-stops, wakes and spawns tenants and writes instance_state.
// Every other server is a follower: it serves requests for the tenants it
// sees in instance_state, never starts or stops a process, answers
// mutations with ErrNotSupervisor, and polls the lease. It re-reads both
// every followInterval (at most LeaseInterval, at most 100ms: a read is
// cheap, and an overlap lasts seconds). It becomes the supervisor when the
// lease is handed to it (HandOver) or its holder is dead: its (pid, start
// time) no longer names a live process, or its heartbeat is older than
// leaseStale. Every server, supervisor or not, is registered in the servers
// table and heartbeats there, which is how a hand-over finds a successor.
//
// Taking the lease is one BEGIN IMMEDIATE transaction (read, decide,
// write), so two servers can never both win. A supervisor that finds its
// lease taken (it was stopped, say with SIGSTOP, for longer than
// leaseStale) stops supervising at once; and before it acts on a crash,
// an idle timeout or a wake with a lease not renewed for two intervals, it
// renews it first, so that a server that has just woken up does not act
// on a lease it has lost.
//
// # Adopt
//
// A server that becomes the supervisor, at Start or later as a follower
// that takes the lease, adopts what instance_state records: a process alive
// with the recorded pid and start time is kept as it is and watched by
// polling; a dead one is respawned if it is listed in [instances], else
// restored idle; a failed one stays failed.
//
// # Hand-over
//
// HandOver stops this server's supervision first (no transition starts,
// those under way finish), then writes the newest live other server as
// holder with acquired_at = 0; the successor sets acquired_at when it takes
// the lease, which is what HandOver waits for. The old server then follows
// until it shuts down, so requests keep being served throughout.
//
// # Files
//
// The files are organised by concern: spawn.go starts a process and waits
// for readiness, lifecycle.go holds the operator's transitions (spawn,
// restart, stop), start.go runs one start transition to its settled state,
// restart.go handles exits and the restart policy, health.go the health
// loop, idle.go scale to zero and request admission (Acquire), adopt.go
// recovery at start, lease.go the supervisor lease, registry.go the servers
// table, follow.go a follower's loop and its view of the instances,
// handover.go the hand-over, ports.go port allocation, state.go the
// database rows, proc.go signals and pid checks, command.go and environ.go
// a tenant's argv, working directory and environment, maxinstances.go the
// max_instances bound.
package supervisor
