package api

import (
	"net/http"

	"github.com/tenement/ten/runtime/logs"
)

// logRange answers the time range the indexed lines cover (those of
// ?process&id&level, a tenant's own for a tenant token) and the retention
// policy that bounds it, so a reader knows whether a missing
// line was never logged or has been deleted.
func (a *API) logRange(w http.ResponseWriter, r *http.Request) {
	f, ok := a.logFilter(w, r)
	if !ok {
		return
	}
	span, err := logs.SpanOf(r.Context(), a.opts.DB, a.opts.LogPolicy, f)
	if err != nil {
		a.log.Error("log range", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read the log range")
		return
	}
	writeJSON(w, http.StatusOK, span)
}
