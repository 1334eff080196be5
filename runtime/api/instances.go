package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tenement/ten/runtime/supervisor"
)

func (a *API) listInstances(w http.ResponseWriter, r *http.Request) {
	who := identityOf(r)
	now := a.opts.Now()
	out := []Instance{}
	for _, in := range a.opts.Backend.List() {
		if who.CanAccess(in.ID) {
			out = append(out, instanceJSON(in, now))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func instanceJSON(in supervisor.Instance, now time.Time) Instance {
	live := in.PID > 0 && in.State != supervisor.StateIdle && in.State != supervisor.StateStopped && in.State != supervisor.StateFailed
	out := Instance{
		ID:         in.Name(),
		Service:    in.Service,
		InstanceID: in.ID,
		Port:       in.Port,
		PID:        in.PID,
		State:      string(in.State),
		Health:     in.Health,
		Restarts:   in.Restarts,
		Weight:     in.Weight,
		InFlight:   in.InFlight,
		Adopted:    in.Adopted,

		StorageUsedBytes:  in.StorageUsedBytes,
		StorageQuotaBytes: in.StorageQuotaBytes,
		StorageOverQuota:  in.StorageOverQuota,
		LastExit:          in.LastExit,
		OOMKills:          in.OOMKills,
		Cgroup:            in.Cgroup,
	}
	if live {
		out.Socket, out.Listen = in.Addr, in.Addr
		if !in.StartedAt.IsZero() {
			out.UptimeSecs = max(0, int64(now.Sub(in.StartedAt)/time.Second))
		}
	}
	last := in.LastRequest
	if last.IsZero() {
		last = in.StartedAt
	}
	if !last.IsZero() {
		out.IdleSecs = max(0, int64(now.Sub(last)/time.Second))
	}
	return out
}

// instanceParam parses the {instance} path segment ("service:id") and
// checks that the caller may touch it.
func (a *API) instanceParam(w http.ResponseWriter, r *http.Request) (service, id string, ok bool) {
	name := r.PathValue("instance")
	service, id, err := supervisor.ParseName(name)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid instance %q: expected service:id (letters, digits, '-' and '_')", name))
		return "", "", false
	}
	if !a.allowed(w, r, id) {
		return "", "", false
	}
	return service, id, true
}

func (a *API) allowed(w http.ResponseWriter, r *http.Request, id string) bool {
	who := identityOf(r)
	if !who.CanAccess(id) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("tenant token can only access instance '%s'", who.Tenant))
		return false
	}
	return true
}

func (a *API) requireAdmin(w http.ResponseWriter, r *http.Request, what string) bool {
	if !identityOf(r).Admin() {
		writeError(w, http.StatusForbidden, what+" requires an admin token")
		return false
	}
	return true
}

// validName checks a service and an id from a request body with the
// supervisor's rules, so a bad name is a 400 before anything starts.
func validName(w http.ResponseWriter, service, id string) bool {
	switch {
	case service == "":
		writeError(w, http.StatusBadRequest, `missing field "process"`)
		return false
	case id == "":
		writeError(w, http.StatusBadRequest, `missing field "id"`)
		return false
	}
	if _, _, err := supervisor.ParseName(service + ":" + id); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid instance %q: names may use letters, digits, '-' and '_'", service+":"+id))
		return false
	}
	return true
}

func (a *API) spawn(w http.ResponseWriter, r *http.Request) {
	var req SpawnRequest
	if !decode(w, r, &req) || !validName(w, req.Process, req.ID) || !a.allowed(w, r, req.ID) {
		return
	}
	in, err := a.opts.Backend.Spawn(r.Context(), req.Process, req.ID)
	if errors.Is(err, supervisor.ErrExists) {
		// Spawning a running instance is not an error in tenement: the
		// caller wanted it up, and it is.
		if cur, ok := a.opts.Backend.Get(req.Process, req.ID); ok {
			in, err = cur, nil
		}
	}
	if err != nil {
		a.backendError(w, "spawn", req.Process+":"+req.ID, err)
		return
	}
	a.audit(r.Context(), "spawn", req.Process, req.ID, "")
	writeJSON(w, http.StatusOK, spawnResponse(in))
}

// spawnResponse is the answer to a spawn or a restart of in.
func spawnResponse(in supervisor.Instance) SpawnResponse {
	return SpawnResponse{Instance: in.Name(), Socket: in.Addr, Port: in.Port, PID: in.PID}
}

// onInstance runs call on the instance the path names, answering the
// backend's error itself (what names the action in it, "restart"); ok
// is false when the answer has been written.
func (a *API) onInstance(w http.ResponseWriter, r *http.Request, what string,
	call func(ctx context.Context, service, id string) (supervisor.Instance, error),
) (in supervisor.Instance, service, id string, ok bool) {
	if service, id, ok = a.instanceParam(w, r); !ok {
		return in, "", "", false
	}
	in, err := call(r.Context(), service, id)
	if err != nil {
		a.backendError(w, what, service+":"+id, err)
		return in, "", "", false
	}
	return in, service, id, true
}

func (a *API) stop(w http.ResponseWriter, r *http.Request) {
	_, service, id, ok := a.onInstance(w, r, "stop", func(ctx context.Context, service, id string) (supervisor.Instance, error) {
		return supervisor.Instance{}, a.opts.Backend.Stop(ctx, service, id)
	})
	if !ok {
		return
	}
	a.audit(r.Context(), "stop", service, id, "")
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) restart(w http.ResponseWriter, r *http.Request) {
	in, service, id, ok := a.onInstance(w, r, "restart", a.opts.Backend.Restart)
	if !ok {
		return
	}
	a.audit(r.Context(), "restart", service, id, "")
	writeJSON(w, http.StatusOK, spawnResponse(in))
}

func (a *API) setWeight(w http.ResponseWriter, r *http.Request) {
	service, id, ok := a.instanceParam(w, r)
	if !ok {
		return
	}
	var req WeightRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Weight == nil {
		writeError(w, http.StatusBadRequest, `missing field "weight"`)
		return
	}
	if !validWeight(w, *req.Weight) {
		return
	}
	if err := a.opts.Backend.SetWeight(r.Context(), service, id, *req.Weight); err != nil {
		a.backendError(w, "set weight of", service+":"+id, err)
		return
	}
	a.audit(r.Context(), "weight", service, id, fmt.Sprintf("weight=%d", *req.Weight))
	writeJSON(w, http.StatusOK, WeightResponse{Instance: service + ":" + id, Weight: *req.Weight})
}

func validWeight(w http.ResponseWriter, weight int) bool {
	if err := CheckWeight("weight", int64(weight)); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

func (a *API) instanceHealth(w http.ResponseWriter, r *http.Request) {
	in, _, _, ok := a.onInstance(w, r, "check health of", a.opts.Backend.CheckHealth)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, HealthResponse{Instance: in.Name(), Health: in.Health, State: string(in.State)})
}

// adminRequest reads the body of a request only an admin may make; ok is
// false when the answer has been written.
func adminRequest[T any](a *API, w http.ResponseWriter, r *http.Request, what string) (req T, ok bool) {
	ok = a.requireAdmin(w, r, what) && decode(w, r, &req)
	return req, ok
}

func (a *API) deploy(w http.ResponseWriter, r *http.Request) {
	req, ok := adminRequest[DeployRequest](a, w, r, "deploy")
	if !ok {
		return
	}
	if req.Version == "" && req.Process != "" {
		writeError(w, http.StatusBadRequest, `missing field "version"`)
		return
	}
	if !validName(w, req.Process, req.Version) {
		return
	}
	weight, timeout := DefaultDeployWeight, DefaultDeployTimeout
	if req.Weight != nil {
		weight = *req.Weight
	}
	if req.Timeout != nil {
		timeout = *req.Timeout
	}
	if !validWeight(w, weight) {
		return
	}
	if err := CheckDeployTimeout("timeout", int64(timeout)); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	name := req.Process + ":" + req.Version
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(timeout)*time.Second)
	defer cancel()

	in, err := a.opts.Backend.Spawn(ctx, req.Process, req.Version)
	if errors.Is(err, supervisor.ErrExists) {
		err = nil
	}
	if err == nil {
		in, err = a.waitHealthy(ctx, req.Process, req.Version)
	}
	if err == nil {
		err = a.opts.Backend.SetWeight(ctx, req.Process, req.Version, weight)
	}
	if err != nil {
		if ctx.Err() != nil && r.Context().Err() == nil {
			writeError(w, http.StatusGatewayTimeout, fmt.Sprintf("deploy %s: not healthy within %ds", name, timeout))
			return
		}
		a.backendError(w, "deploy", name, err)
		return
	}
	a.audit(r.Context(), "deploy", req.Process, req.Version, fmt.Sprintf("weight=%d", weight))
	writeJSON(w, http.StatusOK, DeployResponse{Instance: name, Socket: in.Addr, Weight: weight, Status: "healthy"})
}

// waitHealthy probes service:id until its health check passes or ctx ends.
// Spawn already waited for readiness; this confirms it, and covers an
// instance that existed before the deploy and is still starting.
func (a *API) waitHealthy(ctx context.Context, service, id string) (supervisor.Instance, error) {
	t := time.NewTicker(a.opts.HealthPoll)
	defer t.Stop()
	for {
		in, err := a.opts.Backend.CheckHealth(ctx, service, id)
		if err != nil {
			return in, err
		}
		if in.Health == supervisor.HealthHealthy {
			return in, nil
		}
		if in.State == supervisor.StateFailed {
			return in, fmt.Errorf("%s:%s: %w", service, id, supervisor.ErrFailed)
		}
		select {
		case <-ctx.Done():
			return in, ctx.Err()
		case <-t.C:
		}
	}
}

func (a *API) route(w http.ResponseWriter, r *http.Request) {
	req, ok := adminRequest[RouteRequest](a, w, r, "route swap")
	if !ok {
		return
	}
	switch {
	case req.From == "" && req.Process != "":
		writeError(w, http.StatusBadRequest, `missing field "from"`)
		return
	case req.To == "" && req.Process != "":
		writeError(w, http.StatusBadRequest, `missing field "to"`)
		return
	}
	if !validName(w, req.Process, req.From) || !validName(w, req.Process, req.To) {
		return
	}
	for _, v := range []string{req.From, req.To} {
		if _, ok := a.opts.Backend.Get(req.Process, v); !ok {
			a.backendError(w, "route", req.Process+":"+v, supervisor.ErrNotFound)
			return
		}
	}
	// Raise the new version first, so that no instant has no weight at all.
	if err := a.opts.Backend.SetWeight(r.Context(), req.Process, req.To, 100); err != nil {
		a.backendError(w, "route to", req.Process+":"+req.To, err)
		return
	}
	if err := a.opts.Backend.SetWeight(r.Context(), req.Process, req.From, 0); err != nil {
		a.backendError(w, "route from", req.Process+":"+req.From, err)
		return
	}
	a.audit(r.Context(), "route", req.Process, req.From+" -> "+req.To, "weight swap: 0/100")
	writeJSON(w, http.StatusOK, RouteResponse{
		FromInstance: req.Process + ":" + req.From, ToInstance: req.Process + ":" + req.To,
		FromWeight: 0, ToWeight: 100,
	})
}

// backendErrors says, in order (the first match wins), what the API answers
// for each error of the supervisor; anything else is a 500 with the
// supervisor's message.
var backendErrors = []struct {
	err    error
	status int
	msg    func(op, name string, err error) string
}{
	{supervisor.ErrUnknownService, http.StatusNotFound, func(_, name string, _ error) string {
		service, _, _ := strings.Cut(name, ":")
		return fmt.Sprintf("unknown service %q: it is not defined in tenement.toml", service)
	}},
	{supervisor.ErrNotFound, http.StatusNotFound, func(_, name string, _ error) string {
		return fmt.Sprintf("instance %s not found", name)
	}},
	{supervisor.ErrInvalidID, http.StatusBadRequest, func(_, name string, _ error) string {
		return fmt.Sprintf("invalid instance %q", name)
	}},
	{supervisor.ErrBadWeight, http.StatusBadRequest, func(string, string, error) string {
		return "weight must be between 0 and 100"
	}},
	// The client asked for more than the configuration allows: a conflict
	// with the server's state, not an outage (the router, serving
	// anonymous visitors, answers 503 + Retry-After instead).
	{supervisor.ErrTooManyInstances, http.StatusConflict, func(_, _ string, err error) string {
		return err.Error()
	}},
	{supervisor.ErrExists, http.StatusConflict, func(_, name string, _ error) string {
		return fmt.Sprintf("instance %s already exists", name)
	}},
	{supervisor.ErrShutdown, http.StatusServiceUnavailable, func(string, string, error) string {
		return "server is shutting down"
	}},
	// Supervision moved between the check and the call (an upgrade in
	// progress); the next attempt reaches the new supervisor.
	{supervisor.ErrNotSupervisor, http.StatusServiceUnavailable, func(string, string, error) string {
		return "supervision is moving between servers; retry in a moment"
	}},
	// The client went away (or the server is shutting down): not a server
	// fault.
	{context.Canceled, StatusClientClosedRequest, func(op, name string, _ error) string {
		return fmt.Sprintf("%s %s: request cancelled", op, name)
	}},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, func(op, name string, _ error) string {
		return fmt.Sprintf("%s %s: timed out", op, name)
	}},
}

// backendError maps a supervisor error to a status and one clear line.
func (a *API) backendError(w http.ResponseWriter, op, name string, err error) {
	// ErrFailed and everything unexpected: the supervisor's message says
	// what went wrong (exit status, health check); the API is
	// authenticated, so the operator may see it.
	status, msg := http.StatusInternalServerError, fmt.Sprintf("%s %s: %v", op, name, err)
	var matched error
	for _, c := range backendErrors {
		if errors.Is(err, c.err) {
			matched, status, msg = c.err, c.status, c.msg(op, name, err)
			break
		}
	}
	switch matched {
	case supervisor.ErrNotSupervisor:
		w.Header().Set("Retry-After", "1")
		w.Header().Set(movedHeader, "1") // toSupervisor may pass the request on
	case context.Canceled:
		a.log.Info("api: request cancelled", "op", op, "instance", name)
	}
	if status >= 500 {
		a.log.Error("api", "op", op, "instance", name, "err", err)
	}
	writeError(w, status, msg)
}

// audit records a management action in deploy_log, as tenement does. A
// failure to write it is logged, not returned: the action already happened.
func (a *API) audit(ctx context.Context, action, service, id, detail string) {
	var d any
	if detail != "" {
		d = detail
	}
	_, err := a.opts.DB.ExecContext(context.WithoutCancel(ctx),
		`INSERT INTO deploy_log (process, instance_id, action, detail, timestamp) VALUES (?, ?, ?, ?, ?)`,
		service, id, action, d, a.opts.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		a.log.Error("audit log", "action", action, "instance", service+":"+id, "err", err)
	}
}
