package api

import (
	"log/slog"
	"net/http"
)

// StatusClientClosedRequest is nginx's 499: the client went away before
// the answer was ready. Nobody reads the response; the status is for the
// access log and the metrics, where a 500 would blame the server.
const StatusClientClosedRequest = 499

// clientGone answers a request whose client cancelled it, and logs it.
func clientGone(w http.ResponseWriter, log *slog.Logger, op string, r *http.Request) {
	log.Info("request cancelled by the client", "op", op, "method", r.Method, "path", r.URL.Path)
	writeError(w, StatusClientClosedRequest, op+": request cancelled by the client")
}

// storeError answers a request that the server could not serve (a failed
// database read): a 500 with msg, logged as op, unless the client went
// away meanwhile, which is no fault of the server.
func storeError(w http.ResponseWriter, log *slog.Logger, op string, r *http.Request, err error, msg string) {
	if r.Context().Err() != nil {
		clientGone(w, log, op, r)
		return
	}
	log.Error(op, "err", err)
	writeError(w, http.StatusInternalServerError, msg)
}
