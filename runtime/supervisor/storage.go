package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/tenement/ten/runtime/config"
)

// storageWalkLimit bounds the cost of measuring one data directory: the
// walk visits at most this many entries (files and directories) and then
// stops, reporting what it has summed as a lower bound (Complete false).
// BenchmarkMeasureDir puts an entry at about 8µs on a busy two-core
// machine (an lstat each): under a second per instance and interval at
// worst, on the storage loop's own goroutine.
const storageWalkLimit = 100_000

// Storage levels, for logging each crossing once rather than every
// interval.
const (
	storageOK   = iota
	storageWarn // at or above 80% of the quota
	storageOver // at or above the quota
)

// storageUsage is the last measurement of an instance's data directory.
type storageUsage struct {
	measured bool
	used     int64
	complete bool
	level    int
}

// fill copies the measurement into a snapshot.
func (u storageUsage) fill(i *Instance, svc *config.Service) {
	i.StorageUsedBytes = u.used
	i.StorageQuotaBytes = quotaBytes(svc)
	i.StorageOverQuota = u.level == storageOver
}

func quotaBytes(svc *config.Service) int64 { return int64(svc.StorageQuotaMB) << 20 }

// StorageInfo answers GET /api/instances/{instance}/storage.
type StorageInfo struct {
	Instance   string `json:"instance"`
	Path       string `json:"path"`
	UsedBytes  int64  `json:"used_bytes"`
	QuotaBytes int64  `json:"quota_bytes"` // 0: no quota
	// UsagePercent is used/quota in percent; 0 without a quota.
	UsagePercent float64 `json:"usage_percent"`
	OverQuota    bool    `json:"over_quota"`
	Enforced     bool    `json:"enforced"` // storage_enforce: an instance over quota is not started
	// Complete is false when the directory has more than storageWalkLimit
	// entries: UsedBytes then counts only the ones visited.
	Complete   bool      `json:"complete"`
	MeasuredAt time.Time `json:"measured_at"`
}

// measureDir sums the apparent sizes of the regular files under dir,
// without following symbolic links, visiting at most limit entries. A
// directory that does not exist measures 0. Entries that vanish during
// the walk (a tenant deleting files) are skipped.
func measureDir(dir string, limit int) (used int64, complete bool, err error) {
	n := 0
	errLimit := errors.New("limit")
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if path == dir {
				return err
			}
			return nil // unreadable: not counted
		}
		n++
		if n > limit {
			return errLimit
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				used += info.Size()
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, errLimit):
		return used, false, nil
	case err != nil:
		return 0, false, err
	}
	return used, true, nil
}

// storageLoop measures every instance's data directory each health
// interval. It runs on every server (it only reads), so that a follower's
// API shows the figures too; only the supervisor logs crossings.
func (s *Supervisor) storageLoop(ctx context.Context) {
	every(ctx, s.opts.HealthInterval, func() {
		s.measureAll(ctx)
		s.lim.passes.Add(1)
	})
}

func (s *Supervisor) measureAll(ctx context.Context) {
	s.mu.Lock()
	todo := make([]*inst, 0, len(s.insts))
	for _, in := range s.insts {
		todo = append(todo, in)
	}
	s.mu.Unlock()
	for _, in := range todo {
		if ctx.Err() != nil {
			return
		}
		s.measure(in)
	}
}

// measure measures in's data directory now, records it, logs a crossing
// of 80% or 100% of the quota, and returns the result.
func (s *Supervisor) measure(in *inst) (StorageInfo, error) {
	dir := s.instanceDir(in.key)
	used, complete, err := measureDir(dir, storageWalkLimit)
	if err != nil {
		return StorageInfo{}, fmt.Errorf("%s: measure %s: %w", in.key, dir, err)
	}
	quota := quotaBytes(in.svc)
	level := storageOK
	switch {
	case quota > 0 && used >= quota:
		level = storageOver
	case quota > 0 && used*5 >= quota*4:
		level = storageWarn
	}
	now := s.now()
	s.mu.Lock()
	prev := in.storage
	in.storage = storageUsage{measured: true, used: used, complete: complete, level: level}
	acting := s.actingLocked() && !s.closed
	s.mu.Unlock()

	info := StorageInfo{
		Instance: in.key.String(), Path: dir, UsedBytes: used, QuotaBytes: quota,
		OverQuota: level == storageOver, Enforced: in.svc.StorageEnforce,
		Complete: complete, MeasuredAt: now,
	}
	if quota > 0 {
		info.UsagePercent = float64(used) * 100 / float64(quota)
	}
	if !complete && (prev.complete || !prev.measured) {
		s.log.Warn("data directory too large to measure fully; storage figures are a lower bound",
			"instance", in.key.String(), "entries", storageWalkLimit)
	}
	if acting && level > prev.level {
		attrs := []any{"instance", in.key.String(), "used_bytes", used, "quota_bytes", quota,
			"usage_percent", fmt.Sprintf("%.0f", info.UsagePercent)}
		if level == storageOver {
			s.log.Error(fmt.Sprintf("instance %s is over its storage quota (%d MB)", in.key, in.svc.StorageQuotaMB), attrs...)
		} else {
			s.log.Warn(fmt.Sprintf("instance %s uses 80%% of its storage quota (%d MB)", in.key, in.svc.StorageQuotaMB), attrs...)
		}
	}
	return info, nil
}

// Storage measures the data directory of service:id now.
func (s *Supervisor) Storage(ctx context.Context, service, id string) (StorageInfo, error) {
	in, err := s.find(service, id)
	if err != nil {
		return StorageInfo{}, err
	}
	return s.measure(in)
}

// ErrStorageQuota is returned when an instance with storage_enforce is
// not started because its data directory is over its quota.
var ErrStorageQuota = errors.New("storage quota exceeded")

// checkStorageQuota refuses to start an instance with storage_enforce
// whose data directory is at or over its quota. That is the enforcement
// available to an unprivileged, file-system-agnostic supervisor: the
// tenant is not stopped while it runs (nothing can stop its writes
// without a quota-capable file system), but it is not started again until
// the directory is cleaned up or the quota raised.
func (s *Supervisor) checkStorageQuota(in *inst) error {
	if !in.svc.StorageEnforce || in.svc.StorageQuotaMB <= 0 {
		return nil
	}
	info, err := s.measure(in)
	if err != nil {
		return err
	}
	if !info.OverQuota {
		return nil
	}
	return fmt.Errorf("%w: %s uses %d bytes of its %d MB quota (storage_enforce); free space there or raise storage_quota_mb",
		ErrStorageQuota, info.Path, info.UsedBytes, in.svc.StorageQuotaMB)
}
