package api

import (
	"context"
	"net/http"

	"github.com/tenement/ten/runtime/supervisor"
)

// storageBackend is the part of the backend that measures data
// directories; the supervisor implements it.
type storageBackend interface {
	Storage(ctx context.Context, service, id string) (supervisor.StorageInfo, error)
}

// instanceStorage answers GET /api/instances/{instance}/storage with a
// fresh measurement of the instance's data directory (any server can
// measure it: it only reads).
func (a *API) instanceStorage(w http.ResponseWriter, r *http.Request) {
	service, id, ok := a.instanceParam(w, r)
	if !ok {
		return
	}
	sb, ok := a.opts.Backend.(storageBackend)
	if !ok {
		writeError(w, http.StatusNotImplemented, "this server does not measure storage")
		return
	}
	info, err := sb.Storage(r.Context(), service, id)
	if err != nil {
		a.backendError(w, "measure storage of", service+":"+id, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}
