package server

import "net/http"

// addRoutes is the whole API surface.
func addRoutes(mux *http.ServeMux, d Deps) {
	mux.Handle("/get-number", onlyGet(handleGetNumber(d)))
	mux.Handle("/healthz", onlyGet(handleHealthz(d)))
	mux.Handle("/readyz", onlyGet(handleReadyz(d)))
	mux.Handle("/metrics", onlyGet(d.Metrics.handler()))
	mux.Handle("/", handleNotFound())
}
