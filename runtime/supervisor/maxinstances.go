package supervisor

import (
	"errors"
	"fmt"
	"time"
)

// ErrTooManyInstances is wrapped by a *LimitError.
var ErrTooManyInstances = errors.New("too many instances")

// LimitRetryAfter is how long a client refused by max_instances is told to
// wait: about the time for idle instances to be stopped and free a place.
const LimitRetryAfter = 30 * time.Second

// LimitError says that starting one more instance would exceed a
// max_instances bound. Instances already up are never stopped for it:
// only new starts (a spawn, a wake on request) are refused. The router
// answers it with 503 and Retry-After, the API with 409.
type LimitError struct {
	Instance string // service:id that was refused
	Key      string // the bound: "service.NAME.max_instances" or "settings.max_instances"
	Limit    int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: %v: %d instances are up, the most %s allows; stop one (ten stop) or raise %s",
		e.Instance, ErrTooManyInstances, e.Limit, e.Key, e.Key)
}

func (e *LimitError) Unwrap() error { return ErrTooManyInstances }

// admitLocked refuses to start in when its service, or the server, already
// has max_instances instances up or starting. in itself is not counted.
// Caller holds s.mu.
func (s *Supervisor) admitLocked(in *inst) error {
	perService, total := 0, 0
	for _, o := range s.insts {
		if o == in || !o.occupies() {
			continue
		}
		total++
		if o.service == in.service {
			perService++
		}
	}
	if m := in.svc.MaxInstances; m > 0 && perService >= m {
		return &LimitError{Instance: in.key.String(), Key: "service." + in.service + ".max_instances", Limit: m}
	}
	if m := s.cfg.Settings.MaxInstances; m > 0 && total >= m {
		return &LimitError{Instance: in.key.String(), Key: "settings.max_instances", Limit: m}
	}
	return nil
}

// occupies reports whether the instance has, or is getting, a process:
// what max_instances counts. Stopped, idle and failed ones hold nothing.
// Caller holds s.mu.
func (in *inst) occupies() bool {
	if in.op != nil {
		return in.op.kind != opStop
	}
	return in.proc != nil || in.state == StateStarting || in.state == StateRestarting
}
