// Package server is the counter's HTTP layer: routes, JSON responses, middleware. It
// knows nothing about databases; it gets a Counter and a readiness check.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Counter hands out unique, increasing numbers. Next must bound its own wait (the
// service's counters give up after REQUEST_TIMEOUT): /get-number passes a context that
// never ends, for the reason waitContext gives and because a timer per request would cost
// more than the rest of the handler.
type Counter interface {
	Next(ctx context.Context) (int64, error)
}

// Deps are everything the handler needs.
type Deps struct {
	Log     *slog.Logger
	Counter Counter
	Metrics *Metrics
	// Ready reports why the service cannot serve numbers yet (nil when it can).
	Ready func(ctx context.Context) error
	// ShuttingDown reports whether the process is stopping (then /healthz fails).
	ShuttingDown func() bool
	// RequestTimeout bounds how long /readyz waits for Ready (/get-number's Counter bounds
	// its own wait).
	RequestTimeout time.Duration
}

// New returns the service's handler with its middleware.
func New(d Deps) http.Handler {
	mux := http.NewServeMux()
	addRoutes(mux, d)
	return middleware(d.Log, d.Metrics, d.ShuttingDown, mux)
}

// errorBody is every error response.
type errorBody struct {
	Error string `json:"error"`
}

// writeJSON writes v as the whole response and reports whether it reached the
// connection (writeBody).
func writeJSON(w http.ResponseWriter, code int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeBody(w, code, append(b, '\n'))
}

// Header values every response shares, assigned to the header map directly: no
// allocation and no canonicalization (the keys are canonical) per response. net/http
// copies them (Header.Clone) and nothing here changes them in place.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
	connectionClose = []string{"close"}
	contentLengths  [64][]string // of the bodies shorter than 64 bytes: every number's
)

func init() {
	for n := range contentLengths {
		contentLengths[n] = []string{strconv.Itoa(n)}
	}
}

// writeBody writes the JSON document b as the whole response and reports whether it
// reached the connection: the body is flushed (with a Content-Length, so not chunked)
// and a write or flush error, e.g. a connection reset, is returned.
func writeBody(w http.ResponseWriter, code int, b []byte) error {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	if len(b) < len(contentLengths) {
		h["Content-Length"] = contentLengths[len(b)]
	} else {
		h["Content-Length"] = []string{strconv.Itoa(len(b))}
	}
	w.WriteHeader(code)
	if _, err := w.Write(b); err != nil {
		return err
	}
	return http.NewResponseController(w).Flush()
}

// numberBodies recycles the buffers of appendNumberBody: net/http copies the body before
// Write returns, and otherwise every request would allocate one.
var numberBodies = sync.Pool{New: func() any { return new([32]byte) }} // the longest body: 32 bytes

// appendNumberBody appends {"number":n} and a newline, as json.Marshal would write it,
// without its reflection and buffers: this is every request's body.
func appendNumberBody(b []byte, n int64) []byte {
	b = append(b, `{"number":`...)
	b = strconv.AppendInt(b, n, 10)
	return append(b, "}\n"...)
}

// writeError writes an error response; a client gone meanwhile is recorded by the
// middleware (499), nothing else is to be done about it.
func writeError(w http.ResponseWriter, code int, msg string) {
	_ = writeJSON(w, code, errorBody{Error: msg})
}

// waitContext bounds what a handler waits for by timeout, and only by it: net/http ends
// the request's context when it reads EOF from the connection, which is also what a
// client that half-closed its side (shutdown(SHUT_WR): socat, nc -N) does while it waits
// for its answer. So handlers do not see that as the client leaving; a failed write says
// so (statusRecorder). It is for /readyz; /get-number's Counter bounds its own wait. (Not
// done by the middleware for every request, because Request.WithContext copies the
// request.)
func waitContext(r *http.Request, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), timeout)
}

// handleGetNumber answers {"number": N} once N is committed, or 503 with Retry-After. N
// counts as handed out once its answer was written to the connection; if that write fails
// it is abandoned (a gap). A client that closes its connection before the answer is
// usually counted as handed out: the kernel accepts the write before the peer's reset.
func handleGetNumber(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := d.Counter.Next(context.Background())
		if err != nil {
			// Debug only: an outage fails every request; the counter's Observer reports it once.
			d.Log.Debug("no number", "err", err)
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "counter unavailable, retry later")
			return
		}
		body := numberBodies.Get().(*[32]byte)
		err = writeBody(w, http.StatusOK, appendNumberBody(body[:0], n))
		numberBodies.Put(body)
		if err != nil {
			d.Metrics.Abandoned(1)
			return
		}
		d.Metrics.handedOut.Inc()
	})
}

type status struct {
	Status string `json:"status"`
}

func handleHealthz(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.ShuttingDown() {
			writeError(w, http.StatusServiceUnavailable, "shutting down")
			return
		}
		_ = writeJSON(w, http.StatusOK, status{"ok"})
	})
}

func handleReadyz(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := waitContext(r, d.RequestTimeout)
		defer cancel()
		err := d.Ready(ctx)
		d.Metrics.Ready(err == nil)
		if err != nil {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		_ = writeJSON(w, http.StatusOK, status{"ready"})
	})
}

// onlyGet answers other methods with 405 and Allow. HEAD is not offered: it would take a
// number from the counter just to throw it away.
func onlyGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: use GET")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func handleNotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found: try GET /get-number")
	})
}

// statusClientClosed labels requests whose answer could not be written because the client
// left (nginx's 499), so they count neither as served nor as server errors.
const statusClientClosed = 499

// recorders recycles statusRecorders, one per request otherwise; a handler does not keep
// its ResponseWriter past its return (net/http forbids using it then).
var recorders = sync.Pool{New: func() any { return new(statusRecorder) }}

// statusRecorder remembers the status code for metrics and for the panic handler, and
// whether writing the response failed (the client is gone).
type statusRecorder struct {
	http.ResponseWriter
	code    int
	lostErr error
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.lost(err)
	return n, err
}

// FlushError is what http.ResponseController.Flush calls.
func (s *statusRecorder) FlushError() error {
	err := http.NewResponseController(s.ResponseWriter).Flush()
	s.lost(err)
	return err
}

func (s *statusRecorder) lost(err error) {
	if err != nil && s.lostErr == nil {
		s.lostErr = err
	}
}

// Unwrap lets http.ResponseController reach the connection's other controls.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// middleware recovers panics (logged, answered 500 so one bad request cannot take the
// process down) and records every request by route pattern (not raw path, which is
// unbounded) and status code.
func middleware(log *slog.Logger, m *Metrics, shuttingDown func() bool, mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if shuttingDown() {
			// net/http closes the connection after this answer, and the client, told so,
			// opens a new one, which the Service sends to a ready replica: no keep-alive
			// connection is left for the listener's close to cut under a request.
			w.Header()["Connection"] = connectionClose
		}
		rec := recorders.Get().(*statusRecorder)
		*rec = statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(p) // keeps its meaning: abort the response silently
				}
				log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", p)
				if rec.code == 0 {
					writeError(rec, http.StatusInternalServerError, "internal error")
				}
				rec.code = http.StatusInternalServerError
			}
			switch {
			case rec.lostErr != nil:
				rec.code = statusClientClosed
			case rec.code == 0: // nothing written: net/http sends an empty 200
				rec.code = http.StatusOK
			}
			m.observe(routeLabel(r.Pattern), rec.code, time.Since(start))
			*rec = statusRecorder{} // holds no connection while pooled
			recorders.Put(rec)
		}()
		if msg := unroutable(r); msg != "" {
			writeError(rec, http.StatusNotFound, msg)
			return
		}
		mux.ServeHTTP(rec, r)
	})
}

// unroutable says why a request has no route, for the requests ServeMux would answer in
// its own formats: a redirect with an HTML body for an unclean path (//get-number,
// /a/../get-number) and a plain-text 404 for CONNECT. An unclean path gets a 404, not the
// redirect: a client that follows it repeats a request that spends a number.
// (OPTIONS * reaches here only with http.Server.DisableGeneralOptionsHandler set.)
func unroutable(r *http.Request) string {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodConnect || r.RequestURI == "*" || !strings.HasPrefix(p, "/"):
		return "not found: this server answers paths such as /get-number"
	case path.Clean(p) != p:
		return "not found: use the clean path " + path.Clean(p)
	}
	return ""
}

// routeLabel is the metrics label of a route: ServeMux sets r.Pattern to the pattern it
// matched; the catch-all "/" is every unknown path.
func routeLabel(pattern string) string {
	if pattern == "/" || pattern == "" {
		return "other"
	}
	return pattern
}
