package api

import (
	"net/http"

	"github.com/tenement/ten/runtime/logs"
)

// logRange answers the time range the indexed lines cover and the
// retention policy that bounds it, so a reader knows whether a missing
// line was never logged or has been deleted.
func (a *API) logRange(w http.ResponseWriter, r *http.Request) {
	span, err := logs.SpanOf(r.Context(), a.opts.DB, a.opts.LogPolicy)
	if err != nil {
		a.log.Error("log range", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read the log range")
		return
	}
	writeJSON(w, http.StatusOK, span)
}
